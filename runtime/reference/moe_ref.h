// CPU reference of the MoE expert FFN: double accumulation on dequantized weights. The GPU
// kernels' tests compare against it, and so will the model's reference forward.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "runtime/quant/ggml_type.h"

namespace vkmoe::ref {

// Expert tensor dequantized to floats: [experts][rows][cols], GGUF's order.
struct ExpertMatrix {
  uint32_t experts = 0, rows = 0, cols = 0;
  std::vector<float> w;
  const float* row(uint32_t e, uint32_t r) const { return w.data() + (uint64_t(e) * rows + r) * cols; }
};

// bytes: the tensor exactly as stored in GGUF (ggml_row_bytes(t, cols) per row).
ExpertMatrix dequantize_experts(GgmlType t, std::span<const uint8_t> bytes, uint32_t experts, uint32_t rows,
                                uint32_t cols);

// gate / up: [E][F][H]; down: [E][H][F].
struct MoeFfn {
  ExpertMatrix gate, up, down;
  // gpt-oss: biases (empty, or [E][F], [E][F], [E][H]) and the clamped SwiGLU
  // min(g, limit) * sigmoid(alpha * min(g, limit)) * (clamp(u, -limit, limit) + 1).
  std::vector<float> gate_b, up_b, down_b;
  bool oai = false;
  double alpha = 1.702, limit = 7.0;
  bool gelu = false;  // 0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3))) * u instead of silu(g) * u
  uint32_t hidden() const { return gate.cols; }
  uint32_t ffn() const { return gate.rows; }
};

// out[t] = sum_j w[t, j] * down_e(silu(gate_e x_t) * up_e x_t), e = ids[t, j] (with the biases
// and the clamped SwiGLU when the MoeFfn has them); slots with an id
// of 0xFFFFFFFF (or >= experts) are skipped. x: [tokens][H]; ids, weights: [tokens][k].
// Returns [tokens][H].
std::vector<double> moe_experts(const MoeFfn& ffn, uint32_t tokens, uint32_t k, std::span<const float> x,
                                std::span<const uint32_t> ids, std::span<const float> weights);

// A shared expert (experts == 1) on every token, scaled by scale[t] (empty: 1).
std::vector<double> shared_expert(const MoeFfn& ffn, uint32_t tokens, std::span<const float> x,
                                  std::span<const float> scale = {});

}  // namespace vkmoe::ref
