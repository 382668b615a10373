// IBM Granite 3.x MoE (llama.cpp: granitemoe, src/models/granite.cpp). Normal RoPE over the whole
// head, softmax routing renormalised over experts of feed_forward_length, and Granite's four
// scales (0 or absent: not applied, as in llama.cpp):
//  - embedding_scale multiplies the token embeddings;
//  - residual_scale multiplies each block's attention output and FFN output before the
//    residual add;
//  - attention.scale replaces 1/sqrt(head width) on q.k;
//  - logit_scale (required, not 0) divides the logits.
#include "runtime/arch/hparams.h"
#include "runtime/arch/registry.h"

namespace vkmoe {

void read_granitemoe(const Hparams& h, ModelConfig& c) {
  c.rope_layout = RopeLayout::normal;
  need_rope_over_whole_heads(h, c);
  // llama.cpp runs no RoPE at all when the file says rope.scaling.finetuned = false.
  if (!h.opt_bool("rope.scaling.finetuned", true))
    h.fail("rope.scaling.finetuned = false (attention without RoPE) is not supported");
  c.n_ff_exp = c.n_ff;  // the experts are feed_forward_length wide
  c.n_ff_shexp = h.opt_u32("expert_shared_feed_forward_length", 0);
  c.n_expert_shared = c.n_ff_shexp ? 1 : 0;
  if (!h.has("logit_scale")) h.fail("missing hyperparameter '" + h.prefix() + "logit_scale'");
  c.logit_scale = 1.0f / h.opt_float("logit_scale", 1.0, 1e-6, 1e6);  // llama.cpp divides by it: never 0
  c.embedding_scale = h.opt_float("embedding_scale", 0.0, 0.0, 1e6);
  c.residual_scale = h.opt_float("residual_scale", 0.0, 0.0, 1e6);
  c.attn_scale = h.opt_float("attention.scale", 0.0, 0.0, 1e3);  // 0: 1 / sqrt(head width)
  c.qkv_bias = h.has_tensor("blk.0.attn_q.bias");
  // The FFN's residual scale rides on the routed weights (the router's scale); the shared
  // expert and attn_output.bias would need it applied apart, which vkmoe does not do.
  if (c.residual_scale != 0.0f && c.n_expert_shared)
    h.fail("residual_scale with a shared expert (expert_shared_feed_forward_length " + std::to_string(c.n_ff_shexp) +
           ") is not supported");
  if (c.residual_scale != 0.0f && h.has_tensor("blk.0.attn_output.bias"))
    h.fail("tensor 'blk.0.attn_output.bias' with residual_scale is not supported");
  c.attn_out_bias = h.has_tensor("blk.0.attn_output.bias");
  c.router.gating = Gating::softmax_topk;
  c.router.renormalize = true;
  c.router.scale = c.residual_scale != 0.0f ? c.residual_scale : 1.0f;  // expert_weights_scale is not read
  fill_layers(c);
}

}  // namespace vkmoe
