// DBRX (general.architecture "dbrx"; llama.cpp's LLM_ARCH_DBRX).
#include <string>

#include "runtime/arch/hparams.h"
#include "runtime/arch/registry.h"

namespace vkmoe {

// As llama.cpp loads and runs it (src/models/dbrx.cpp):
//  - attention.layer_norm_epsilon and attention.clamp_kqv are required;
//  - attn_norm, the FFN norm (attn_output_norm) and output_norm are LayerNorms without bias;
//  - one fused attn_qkv (no bias), clamped to +-clamp_kqv before RoPE (build_qkv), NeoX RoPE
//    over whole heads (head_dim == n_rot), the usual 1/sqrt(head_dim) scale, no output bias;
//  - experts of width feed_forward_length; router: softmax over all experts, top-k,
//    renormalised, no scale (dbrx never reads expert_weights_scale); output.weight required.
void read_dbrx(const Hparams& h, ModelConfig& c) {
  for (const char* key : {"attention.layer_norm_epsilon", "attention.clamp_kqv"})
    if (!h.has(key)) h.fail("missing hyperparameter '" + h.prefix() + key + "'");
  c.norm_eps = h.opt_float("attention.layer_norm_epsilon", 1e-5, 0.0, 1.0);
  c.clamp_kqv = h.opt_float("attention.clamp_kqv", 0.0, 0.0, 1e30);
  if (c.n_rot != c.head_dim_k || c.head_dim_v != c.head_dim_k)
    h.fail("dbrx heads are rope.dimension_count wide: key " + std::to_string(c.head_dim_k) + ", value " +
           std::to_string(c.head_dim_v) + ", rope " + std::to_string(c.n_rot));
  for (const char* t : {"blk.0.attn_qkv.weight", "output.weight"})
    if (!h.has_tensor(t)) h.fail(std::string("missing tensor '") + t + "'");
  c.rope_layout = RopeLayout::neox;
  c.n_ff_exp = c.n_ff;
  c.layer_norm = true;
  c.ffn_norm = "attn_output_norm";
  c.router.gating = Gating::softmax_topk;
  c.router.renormalize = true;
  fill_layers(c);
}

}  // namespace vkmoe
