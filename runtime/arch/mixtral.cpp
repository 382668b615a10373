// "llama" with experts (Mixtral; llama.cpp: llama). Normal RoPE, softmax over the top-k logits.
#include "runtime/arch/hparams.h"
#include "runtime/arch/registry.h"

namespace vkmoe {

void read_mixtral(const Hparams& h, ModelConfig& c) {
  if (!c.n_expert)
    h.fail("architecture 'llama' without experts is a dense model; vkmoe runs Mixture-of-Experts models (" +
           supported_architectures() + ")");
  c.rope_layout = RopeLayout::normal;
  // llama.cpp sizes the experts by feed_forward_length and ignores expert_feed_forward_length
  // (converters may write it as 0).
  c.n_ff_exp = c.n_ff;
  c.router.gating = Gating::topk_softmax;
  fill_layers(c);
}

}  // namespace vkmoe
