// dots.llm1 (llama.cpp: dots1, src/models/dots1.cpp). GQA with per-head QK-norm before NeoX RoPE
// over the whole head, leading dense layers, then routed experts chosen by
// expert_gating_func (2: sigmoid, 1: softmax; + exp_probs_b when present), optionally
// renormalised, scaled by expert_weights_scale, beside n_expert_shared shared experts run as one
// FFN of n_ff_exp * n_expert_shared.
#include "runtime/arch/hparams.h"
#include "runtime/arch/registry.h"

namespace vkmoe {

void read_dots1(const Hparams& h, ModelConfig& c) {
  c.rope_layout = RopeLayout::neox;
  need_rope_over_whole_heads(h, c);
  c.n_ff_exp = h.need_u32("expert_feed_forward_length");
  c.n_layer_dense_lead = h.need_u32("leading_dense_block_count");
  c.n_expert_shared = h.need_u32("expert_shared_count");
  c.n_ff_shexp = c.n_ff_exp * c.n_expert_shared;
  c.qk_norm_per_head = true;

  RouterConfig& r = c.router;
  read_gating_func(h, c);
  r.renormalize = h.opt_bool("expert_weights_norm", false);
  if (!h.has("expert_weights_scale")) h.fail("missing hyperparameter '" + h.prefix() + "expert_weights_scale'");
  r.scale = h.opt_float("expert_weights_scale", 1.0, 0.0, 1e6);
  if (r.scale == 0.0f) r.scale = 1.0f;  // llama.cpp skips a scale of 0 (as of 1)
  fill_layers(c);
}

}  // namespace vkmoe
