// MiniMax-M2 (llama.cpp: minimax-m2, src/models/minimax-m2.cpp). GQA with QK-norm over the whole
// q and k vectors before partial NeoX RoPE (rope.dimension_count < head width), and routed
// experts of feed_forward_length chosen by expert_gating_func (2: sigmoid, 1: softmax) +
// exp_probs_b, renormalised, unscaled; no shared experts, no dense layers.
#include "runtime/arch/hparams.h"
#include "runtime/arch/registry.h"

namespace vkmoe {

void read_minimax_m2(const Hparams& h, ModelConfig& c) {
  c.rope_layout = RopeLayout::neox;
  if (c.head_dim_v != c.head_dim_k || c.n_rot > c.head_dim_k || c.n_rot % 2)
    h.fail("minimax-m2 heads: key " + std::to_string(c.head_dim_k) + ", value " + std::to_string(c.head_dim_v) +
           ", rope " + std::to_string(c.n_rot) + " (equal widths, rope even and at most the head width needed)");
  // llama.cpp reads expert_feed_forward_length (a number or one per layer) but sizes the
  // experts by feed_forward_length.
  c.n_ff_exp = c.n_ff;
  c.qk_norm_full = true;
  if (!h.has_tensor("blk.0.exp_probs_b.bias")) h.fail("missing tensor 'blk.0.exp_probs_b.bias' (llama.cpp requires it)");
  read_gating_func(h, c);
  c.router.renormalize = true;
  fill_layers(c);
}

}  // namespace vkmoe
