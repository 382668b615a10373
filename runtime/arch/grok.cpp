// Grok-1 (general.architecture "grok"; llama.cpp's LLM_ARCH_GROK).
#include <string>

#include "runtime/arch/hparams.h"
#include "runtime/arch/registry.h"

namespace vkmoe {

// As llama.cpp loads and runs it (src/models/grok.cpp, build_attn_mha, build_inp_embd):
//  - attention.layer_norm_rms_epsilon required; every norm a plain RMSNorm;
//  - embeddings x embedding_scale (default 78.38...); NeoX RoPE over whole heads;
//  - scores: q.k x attention.output_scale (default 1/sqrt(128)), then
//    attn_logit_softcapping x tanh(s / it) (default 30); attn_output_norm on the attention's
//    output before the residual add; ffn_norm, then the MoE with GELU experts (softmax top-k
//    renormalised, router_logit_softcapping read but unused); the FFN's output normed by
//    layer_output_norm (or post_ffw_norm) before the residual add;
//  - logits x logit_scale (default 1/sqrt(3)), then final_logit_softcapping (default 0: none);
//  - experts of width expert_feed_forward_length, or feed_forward_length.
// Grok-2's additions are refused: its dense FFN beside the MoE (ffn_up), YaRN with its own beta
// and attention temperature.
void read_grok(const Hparams& h, ModelConfig& c) {
  if (!h.has("attention.layer_norm_rms_epsilon")) h.fail("missing hyperparameter '" + h.prefix() + "attention.layer_norm_rms_epsilon'");
  if (h.has_tensor("blk.0.ffn_up.weight")) h.fail("tensor 'blk.0.ffn_up.weight': Grok-2's dense FFN beside the MoE is not supported");
  if (c.rope_yarn || c.rope_freq_scale != 1.0f || h.opt_u32("attention.temperature_length", 0))
    h.fail("Grok-2's RoPE scaling and attention temperature are not supported");
  if (c.n_rot != c.head_dim_k || c.head_dim_v != c.head_dim_k)
    h.fail("grok heads are rope.dimension_count wide: key " + std::to_string(c.head_dim_k) + ", value " +
           std::to_string(c.head_dim_v) + ", rope " + std::to_string(c.n_rot));
  c.rope_layout = RopeLayout::neox;
  c.n_ff_exp = h.opt_u32("expert_feed_forward_length", 0);
  if (!c.n_ff_exp) c.n_ff_exp = c.n_ff;
  c.embedding_scale = h.opt_float("embedding_scale", 78.38367176906169, 0.0, 1e6);
  c.attn_scale = h.opt_float("attention.output_scale", 0.08838834764831845, 1e-9, 1e6);
  c.attn_softcap = h.opt_float("attn_logit_softcapping", 30.0, 1e-6, 1e6);
  c.logit_scale = h.opt_float("logit_scale", 0.5773502691896257, 1e-9, 1e6);
  c.final_softcap = h.opt_float("final_logit_softcapping", 0.0, 0.0, 1e6);
  c.attn_post_norm = true;
  c.ffn_post_norm = h.has_tensor("blk.0.layer_output_norm.weight") ? "layer_output_norm" : "post_ffw_norm";
  c.gelu_experts = true;
  c.router.gating = Gating::softmax_topk;
  c.router.renormalize = true;
  fill_layers(c);
}

}  // namespace vkmoe
