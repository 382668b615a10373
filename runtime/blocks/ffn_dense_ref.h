// CPU reference of the dense FFN block (runtime/blocks/ffn_dense.h), in double precision:
// ffn_gate / ffn_up / ffn_down of width n_ff on one token, as the dense lead layers (DeepSeek,
// GLM-4.5, ...), llama4's dense layers, Arctic's FFN beside the MoE and Grok-2's GELU FFN run it.
#pragma once
#include <cstdint>

#include "runtime/reference/ref_weights.h"

namespace vkmoe {

struct ModelConfig;

namespace blocks::ffn_dense {

// down(silu(gate xn) * up xn) of layer `layer`, or with gelu down(gelu(gate xn) * up xn).
ref::Vec reference(ref::RefWeights& w, const ModelConfig& cfg, uint32_t layer, const ref::Vec& xn, bool gelu = false);

}  // namespace blocks::ffn_dense
}  // namespace vkmoe
