// Ling / Ring 2.0 (general.architecture "bailingmoe2"; llama.cpp's src/models/bailingmoe2.cpp).
// Fused attn_qkv, per-head QK-norm before a partial NeoX RoPE, leading dense layers, then routed
// experts (sigmoid with selection bias, group-limited as DeepSeek-V3) beside ungated shared
// experts. The last nextn_predict_layers blocks are NextN layers: loaded and skipped, as glm4moe.
#include <algorithm>

#include "runtime/arch/hparams.h"
#include "runtime/arch/registry.h"

namespace vkmoe {

void read_bailingmoe2(const Hparams& h, ModelConfig& c) {
  c.rope_layout = RopeLayout::neox;
  split_nextn_layers(h, c);
  c.n_layer_dense_lead = h.opt_u32("leading_dense_block_count", 0);
  c.n_ff_exp = h.need_u32("expert_feed_forward_length");
  c.n_expert_shared = h.need_u32("expert_shared_count");
  // llama.cpp: (expert_shared_feed_forward_length, or the routed width when 0 or absent) x count.
  const uint32_t f_sh = h.opt_u32("expert_shared_feed_forward_length", 0);
  c.n_ff_shexp = (f_sh ? f_sh : c.n_ff_exp) * c.n_expert_shared;
  c.qk_norm_per_head = true;  // attn_q_norm / attn_k_norm [head width] are required
  if (c.head_dim_v != c.head_dim_k)
    h.fail("bailingmoe2 key and value heads differ: " + std::to_string(c.head_dim_k) + " and " + std::to_string(c.head_dim_v));
  if (c.n_rot > c.head_dim_k || c.n_rot % 2)
    h.fail("rope.dimension_count " + std::to_string(c.n_rot) + " must be even and at most the head width " +
           std::to_string(c.head_dim_k));

  RouterConfig& r = c.router;
  // Required by llama.cpp: 1 softmax, 2 sigmoid, 3 softmax over the top-k logits.
  const uint32_t func = h.need_u32("expert_gating_func");
  const bool bias = h.has_tensor("blk." + std::to_string(c.n_layer_dense_lead) + ".exp_probs_b.bias");
  r.n_group = std::max<uint32_t>(1, h.opt_u32("expert_group_count", 1));
  r.topk_group = r.n_group > 1 ? h.opt_u32("expert_group_used_count", r.n_group) : 1;
  if (func == 2) {
    r.gating = Gating::sigmoid_group;
  } else if (func == 1 || func == 3) {
    if (bias || r.n_group > 1)
      h.fail("expert_gating_func " + std::to_string(func) + " with a selection bias or expert groups is not supported");
    r.gating = func == 1 ? Gating::softmax_topk : Gating::topk_softmax;
  } else {
    h.fail("expert_gating_func " + std::to_string(func) + " is not one llama.cpp knows (1, 2 or 3)");
  }
  r.renormalize = h.opt_bool("expert_weights_norm", false);
  // 0 (llama.cpp's default) leaves the weights unscaled, as 1 does.
  r.scale = h.opt_float("expert_weights_scale", 0.0, 0.0, 1e6);
  if (r.scale == 0.0f) r.scale = 1.0f;
  fill_layers(c);
}

}  // namespace vkmoe
