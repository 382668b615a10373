// GLM-4.5 / GLM-4.5-Air (llama.cpp: glm4moe, src/models/glm4-moe.cpp). GQA with q/k/v biases and
// optional per-head QK-norm, partial NeoX RoPE (rope.dimension_count < head width), the FFN
// norm named post_attention_norm, leading dense layers, then routed experts chosen by
// sigmoid + selection bias (exp_probs_b) beside a shared expert. The last nextn_predict_layers
// blocks are NextN (multi-token prediction) layers: llama.cpp loads and skips them, as here.
#include <algorithm>

#include "runtime/arch/hparams.h"
#include "runtime/arch/registry.h"

namespace vkmoe {

void read_glm4moe(const Hparams& h, ModelConfig& c) {
  c.rope_layout = RopeLayout::neox;
  split_nextn_layers(h, c);
  const uint32_t f = h.opt_u32("expert_feed_forward_length", 0);
  c.n_ff_exp = f || !c.n_expert_used ? f : c.n_ff / c.n_expert_used;
  // llama.cpp sizes the shared expert as n_ff_exp * count (expert_shared_feed_forward_length unread).
  c.n_expert_shared = h.opt_u32("expert_shared_count", 0);
  c.n_ff_shexp = c.n_ff_exp * c.n_expert_shared;
  c.n_layer_dense_lead = h.opt_u32("leading_dense_block_count", 0);
  c.qkv_bias = h.has_tensor("blk.0.attn_q.bias");
  c.qk_norm_per_head = h.has_tensor("blk.0.attn_q_norm.weight");  // GLM-4.5 (355B) only
  c.ffn_norm = "post_attention_norm";
  if (c.n_rot > c.head_dim_k || c.n_rot % 2)
    h.fail("rope.dimension_count " + std::to_string(c.n_rot) + " must be even and at most the head width " +
           std::to_string(c.head_dim_k));

  RouterConfig& r = c.router;
  const uint32_t func = h.opt_u32("expert_gating_func", 0);  // 0 (unset) and 2: sigmoid; 1: softmax
  if (func == 1) h.fail("expert_gating_func 1 (softmax) with a selection bias is not supported for glm4moe");
  r.gating = Gating::sigmoid_group;
  r.renormalize = h.opt_bool("expert_weights_norm", false);
  // 0 (as llama.cpp's test files write it) leaves the weights unscaled, as 1 does.
  r.scale = h.opt_float("expert_weights_scale", 0.0, 0.0, 1e6);
  if (r.scale == 0.0f) r.scale = 1.0f;
  r.n_group = std::max<uint32_t>(1, h.opt_u32("expert_group_count", 1));
  r.topk_group = r.n_group > 1 ? h.opt_u32("expert_group_used_count", r.n_group) : 1;
  fill_layers(c);
}

}  // namespace vkmoe
