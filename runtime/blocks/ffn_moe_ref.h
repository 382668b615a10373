// CPU reference of the MoE FFN block (runtime/blocks/ffn_moe.h), in double precision: the router
// (router_ref.h), the routed experts with their extras (gpt-oss's biases and clamped SwiGLU,
// Grok's GELU, llama4's weighted input, per-expert output scales) and, with
// LayerSpec::shared_experts, the shared experts (Qwen2-MoE's sigmoid-gated one). Chosen by the
// config's flags and the layer's LayerSpec, never the architecture's name.
#pragma once
#include <array>
#include <cstdint>

#include "runtime/reference/ref_weights.h"

namespace vkmoe {

struct ModelConfig;

namespace blocks::ffn_moe {

// What an expert computes besides SwiGLU: per-expert biases [E] rows of F (gate, up) or H (down)
// and the clamped SwiGLU (gpt-oss: llama.cpp's swiglu_oai), or GELU (Grok).
struct RefExpertExtras {
  const ref::Mat *gate_b = nullptr, *up_b = nullptr, *down_b = nullptr;
  bool oai = false;
  double alpha = 0, limit = 0;
  bool gelu = false;  // gelu(g) * u (tanh approximation)
  std::array<double, 3> scales = {1, 1, 1};  // each projection's output scale (gate, up, down)
};

// One expert on one token: down(silu(gate x) * up x) over expert row0's F rows of gate/up and H
// rows of down (a dense FFN is expert 0), or with the extras down(act(gate x + bg, up x + bu)) +
// bd; the scales multiply each projection before its bias.
ref::Vec reference_expert(const ref::Mat& gate, const ref::Mat& up, const ref::Mat& down, const ref::Vec& x,
                          uint64_t row0, uint64_t F, uint64_t H, const RefExpertExtras& ex = {});

// Layer `layer`'s routed experts (+ shared) for one token's FFN-norm output xn. margin, when
// given, is lowered to the router's selection margin (weakest chosen minus best unchosen score,
// or the expert-group margin): where it is tiny a GPU may legitimately route differently.
ref::Vec reference(ref::RefWeights& w, const ModelConfig& cfg, uint32_t layer, const ref::Vec& xn, double* margin);

}  // namespace blocks::ffn_moe
}  // namespace vkmoe
