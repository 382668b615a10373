// Snowflake Arctic (general.architecture "arctic"; llama.cpp's LLM_ARCH_ARCTIC).
#include "runtime/arch/hparams.h"
#include "runtime/arch/registry.h"

namespace vkmoe {

// As llama.cpp loads and runs it (src/models/arctic.cpp):
//  - attention.layer_norm_rms_epsilon is required; every norm is a plain RMSNorm;
//  - normal RoPE over whole heads; q/k/v/o without biases, the usual 1/sqrt(head_dim) scale;
//  - each layer: h = x + attn(norm(x)); a dense SwiGLU FFN of width n_embd (ffn_gate/up/down)
//    on ffn_norm(h), and the MoE on ffn_norm_exps(x), the layer's INPUT; out = h + dense + moe;
//  - experts of width feed_forward_length; router: softmax over all experts, top-k,
//    renormalised (norm_w), no scale.
void read_arctic(const Hparams& h, ModelConfig& c) {
  if (!h.has("attention.layer_norm_rms_epsilon")) h.fail("missing hyperparameter '" + h.prefix() + "attention.layer_norm_rms_epsilon'");
  c.rope_layout = RopeLayout::normal;
  c.n_ff_exp = c.n_ff;
  c.n_ff = c.n_embd;  // the dense residual FFN is n_embd wide
  c.router.gating = Gating::softmax_topk;
  c.router.renormalize = true;
  fill_layers(c);
  for (LayerSpec& s : c.layers) s.parallel_dense = true;
}

}  // namespace vkmoe
