#include "runtime/blocks/ffn_dense_ref.h"

#include <string>

#include "runtime/blocks/ffn_moe_ref.h"
#include "runtime/model/model_config.h"

namespace vkmoe::blocks::ffn_dense {

ref::Vec reference(ref::RefWeights& w, const ModelConfig& cfg, uint32_t layer, const ref::Vec& xn, bool gelu) {
  const std::string b = "blk." + std::to_string(layer) + ".";
  return ffn_moe::reference_expert(w.get(b + "ffn_gate.weight"), w.get(b + "ffn_up.weight"), w.get(b + "ffn_down.weight"),
                                   xn, 0, cfg.n_ff, cfg.n_embd, ffn_moe::RefExpertExtras{.gelu = gelu});
}

}  // namespace vkmoe::blocks::ffn_dense
