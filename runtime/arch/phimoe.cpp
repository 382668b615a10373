// Phi-3.5-MoE (general.architecture "phimoe"; llama.cpp's LLM_ARCH_PHIMOE, run by its phi3 graph).
#include "runtime/arch/hparams.h"
#include "runtime/arch/registry.h"

namespace vkmoe {

// As llama.cpp loads and runs it (src/models/phimoe.cpp for the tensors, phi3.cpp's graph):
//  - attention.layer_norm_rms_epsilon is required;
//  - attn_norm, ffn_norm and output_norm are RMS norms with a bias (LLM_NORM_RMS given the
//    .bias tensors: weight, then + bias), although the checkpoint trained LayerNorms;
//  - q/k/v (or attn_qkv) biases are optional, attn_output.bias and output.bias required;
//  - NeoX RoPE over the whole head; q scaled by 1/sqrt(head_dim), the usual attention scale;
//  - experts of width feed_forward_length; router: softmax over all experts, top-k,
//    renormalised (norm_w), no scale (phimoe never reads expert_weights_scale);
//  - rope_factors_long/short (LongRoPE, one [n_rot / 2] pair for all layers) are optional: the
//    long ones when the context per sequence exceeds rope.scaling.original_context_length
//    (default context_length), else the short ones; RoPE's attn_factor is the file's
//    rope.scaling.attn_factor (the converter's sqrt(1 + ln(scale) / ln(original length))).
void read_phimoe(const Hparams& h, ModelConfig& c) {
  if (!h.has("attention.layer_norm_rms_epsilon")) h.fail("missing hyperparameter '" + h.prefix() + "attention.layer_norm_rms_epsilon'");
  c.rope_factors_long = h.has_tensor("rope_factors_long.weight");
  c.rope_factors_short = h.has_tensor("rope_factors_short.weight");
  c.rope_yarn_orig_ctx = h.opt_u32("rope.scaling.original_context_length", c.n_ctx_train);
  c.rope_layout = RopeLayout::neox;
  c.n_ff_exp = c.n_ff;
  c.norm_bias = true;
  c.output_bias = true;
  c.attn_out_bias = true;
  c.qkv_bias = h.has_tensor("blk.0.attn_q.bias") || h.has_tensor("blk.0.attn_qkv.bias");
  c.router.gating = Gating::softmax_topk;
  c.router.renormalize = true;
  fill_layers(c);
}

}  // namespace vkmoe
