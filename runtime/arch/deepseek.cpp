// DeepSeek-MoE 16B (llama.cpp: deepseek, src/models/deepseek.cpp). GQA, normal RoPE, leading
// dense layers, then softmax top-k routed experts (weights neither renormalised nor scaled)
// beside n_expert_shared shared experts run as one FFN of n_ff_exp * n_expert_shared.
#include "runtime/arch/hparams.h"
#include "runtime/arch/registry.h"

namespace vkmoe {

void read_deepseek(const Hparams& h, ModelConfig& c) {
  c.rope_layout = RopeLayout::normal;
  c.n_ff_exp = h.need_u32("expert_feed_forward_length");
  c.n_layer_dense_lead = h.opt_u32("leading_dense_block_count", 0);
  c.n_expert_shared = h.opt_u32("expert_shared_count", 0);
  c.n_ff_shexp = c.n_ff_exp * c.n_expert_shared;
  c.attn_scale = h.opt_float("attention.scale", 0.0, 0.0, 1e3);  // 0: 1 / sqrt(head width)
  c.router.gating = Gating::softmax_topk;
  c.router.renormalize = false;
  fill_layers(c);
}

}  // namespace vkmoe
