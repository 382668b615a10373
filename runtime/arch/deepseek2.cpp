// DeepSeek-V2/V3 (llama.cpp: deepseek2). Multi-head latent attention, leading dense layers,
// shared experts, softmax (V2) or sigmoid with selection bias and expert groups (V3).
#include "runtime/arch/hparams.h"
#include "runtime/arch/registry.h"

namespace vkmoe {

void read_deepseek2(const Hparams& h, ModelConfig& c) {
  c.rope_layout = RopeLayout::normal;
  c.n_ff_exp = h.opt_u32("expert_feed_forward_length", 0);
  c.n_expert_shared = h.opt_u32("expert_shared_count", 0);
  c.n_ff_shexp = h.opt_u32("expert_shared_feed_forward_length", 0);
  if (c.n_expert_shared && !c.n_ff_shexp) c.n_ff_shexp = c.n_ff_exp * c.n_expert_shared;
  c.n_layer_dense_lead = h.opt_u32("leading_dense_block_count", 0);

  RouterConfig& r = c.router;
  const uint32_t func = h.opt_u32("expert_gating_func", 1);  // 1 softmax, 2 sigmoid
  r.gating = func == 2 ? Gating::sigmoid_group : Gating::softmax_topk;
  r.renormalize = h.opt_bool("expert_weights_norm", false);
  r.scale = h.opt_float("expert_weights_scale", 1.0, 1e-6, 1e6);
  r.n_group = h.opt_u32("expert_group_count", 1);
  r.topk_group = h.opt_u32("expert_group_used_count", r.n_group);
  if (r.n_group == 0) r.n_group = 1;
  r.group_top2 = func == 2;

  c.q_lora_rank = h.opt_u32("attention.q_lora_rank", 0);
  c.kv_lora_rank = h.need_u32("attention.kv_lora_rank");
  // Files converted for absorbed MLA give the latent widths as key/value_length (576/512, one
  // KV head) and the per-head widths as *_mla; older ones give the per-head widths directly.
  // The config keeps the file's values; attention_shape() gives the decompressed heads.
  const uint32_t k = h.opt_u32("attention.key_length_mla", c.head_dim_k);
  c.v_head_dim = h.opt_u32("attention.value_length_mla", c.head_dim_v);
  c.qk_rope_dim = c.n_rot;
  if (c.n_rot >= k || c.n_rot % 2 || k % 2 || c.v_head_dim % 2)
    h.fail("MLA head widths: key " + std::to_string(k) + " with " + std::to_string(c.n_rot) + " rotated dims, value " +
           std::to_string(c.v_head_dim) + " (all even, rotated < key needed)");
  c.qk_nope_dim = k - c.n_rot;
  fill_layers(c, AttentionKind::mla);
}

}  // namespace vkmoe
