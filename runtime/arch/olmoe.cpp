// OLMoE (llama.cpp: olmoe). QK-norm over the whole q and k vectors, NeoX RoPE, softmax top-k.
#include "runtime/arch/hparams.h"
#include "runtime/arch/registry.h"

namespace vkmoe {

void read_olmoe(const Hparams&, ModelConfig& c) {
  c.rope_layout = RopeLayout::neox;
  c.n_ff_exp = c.n_ff;  // as llama.cpp: feed_forward_length, expert_feed_forward_length ignored
  c.qk_norm_full = true;
  c.router.gating = Gating::softmax_topk;
  c.router.renormalize = false;
  fill_layers(c);
}

}  // namespace vkmoe
