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
// Grok-2 (as llama.cpp's grok graph runs it):
//  - ffn_up present: a dense GELU FFN (ffn_gate/up/down, width feed_forward_length) on ffn_norm's
//    output beside the MoE, (dense + MoE) x sqrt(2)/2 before the FFN's output norm;
//  - rope.scaling.yarn_ext_factor (unset: 1 under YaRN, else 0), yarn_beta_fast (grok's default 8),
//    yarn_beta_slow (1); yarn_attn_factor only counts without the YaRN ramp (llama.cpp overwrites
//    it otherwise) and then multiplies cos/sin, as rope.scaling.attn_factor always does;
//  - attention.temperature_length and router_logit_softcapping: read, unused by llama.cpp's graph.
namespace {

void read_grok2_rope(const Hparams& h, ModelConfig& c) {
  double ext = h.opt_float("rope.scaling.yarn_ext_factor", -1.0, -1.0, 100.0);
  if (ext < 0) ext = c.rope_yarn ? 1.0 : 0.0;
  c.rope_yarn_beta_fast = static_cast<float>(h.opt_float("rope.scaling.yarn_beta_fast", 8.0, 1e-6, 1e6));
  c.rope_yarn_beta_slow = static_cast<float>(h.opt_float("rope.scaling.yarn_beta_slow", 1.0, 1e-6, 1e6));
  if (c.rope_yarn && ext == 0)
    h.fail("rope.scaling.type yarn with yarn_ext_factor 0 (RoPE with the file's yarn_attn_factor) is not supported");
  if (!c.rope_yarn && ext != 0)
    h.fail("rope.scaling.yarn_ext_factor " + std::to_string(ext) + " without rope.scaling.type yarn is not supported");
  c.rope_yarn_ext_factor = static_cast<float>(ext);
  if (!c.rope_yarn) c.rope_attn_factor *= static_cast<float>(h.opt_float("rope.scaling.yarn_attn_factor", 1.0, 1e-6, 100.0));
}

}  // namespace

void read_grok(const Hparams& h, ModelConfig& c) {
  if (!h.has("attention.layer_norm_rms_epsilon")) h.fail("missing hyperparameter '" + h.prefix() + "attention.layer_norm_rms_epsilon'");
  read_grok2_rope(h, c);
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
  // Grok-2's dense FFN: every layer or none (llama.cpp loads each layer's as optional).
  const bool dense = h.has_tensor("blk.0.ffn_up.weight");
  for (uint32_t l = 0; l < c.n_layer; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    for (const char* t : {"ffn_gate.weight", "ffn_up.weight", "ffn_down.weight"})
      if (h.has_tensor(b + t) != dense)
        h.fail("tensor '" + b + t + "': Grok-2's dense FFN must have ffn_gate, ffn_up and ffn_down in every layer" +
               (dense ? "" : " (blk.0 has none)"));
    c.layers[l].grok_dense = dense;
  }
}

}  // namespace vkmoe
