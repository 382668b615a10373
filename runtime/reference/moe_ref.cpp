#include "runtime/reference/moe_ref.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>

#include "runtime/quant/quant.h"

namespace vkmoe::ref {

ExpertMatrix dequantize_experts(GgmlType t, std::span<const uint8_t> bytes, uint32_t experts, uint32_t rows,
                                uint32_t cols) {
  const uint64_t row_bytes = ggml_row_bytes(t, cols);
  const uint64_t n_rows = uint64_t(experts) * rows;
  if (bytes.size() != n_rows * row_bytes)
    throw std::invalid_argument("dequantize_experts: " + std::to_string(bytes.size()) + " bytes given, " +
                                std::to_string(n_rows * row_bytes) + " expected");
  ExpertMatrix m{experts, rows, cols, std::vector<float>(n_rows * cols)};
  for (uint64_t r = 0; r < n_rows; ++r) dequantize_row(t, bytes.data() + r * row_bytes, m.w.data() + r * cols, cols);
  return m;
}

namespace {

double dot(const float* w, const double* v, uint32_t n) {
  double s = 0;
  for (uint32_t i = 0; i < n; ++i) s += double(w[i]) * v[i];
  return s;
}

// acc += weight * down_e(silu(gate_e x) * up_e x), or with the biases and clamped SwiGLU
// weight * (down_e(oai(gate_e x + bg_e, up_e x + bu_e)) + bd_e)
void add_expert(const MoeFfn& f, uint32_t e, const double* x, double weight, double* acc) {
  const uint32_t H = f.hidden(), F = f.ffn();
  const bool bias = !f.gate_b.empty();
  std::vector<double> h(F);
  for (uint32_t r = 0; r < F; ++r) {
    double g = dot(f.gate.row(e, r), x, H), u = dot(f.up.row(e, r), x, H);
    if (bias) g += f.gate_b[uint64_t(e) * F + r], u += f.up_b[uint64_t(e) * F + r];
    if (f.oai) {
      const double a = std::min(g, f.limit), b = std::clamp(u, -f.limit, f.limit);
      h[r] = a / (1 + std::exp(-f.alpha * a)) * (b + 1);
    } else if (f.gelu) {
      h[r] = 0.5 * g * (1 + std::tanh(std::sqrt(2 / std::numbers::pi) * (g + 0.044715 * g * g * g))) * u;
    } else {
      h[r] = g / (1 + std::exp(-g)) * u;
    }
  }
  for (uint32_t r = 0; r < H; ++r)
    acc[r] += weight * (dot(f.down.row(e, r), h.data(), F) + (bias ? f.down_b[uint64_t(e) * H + r] : 0.0));
}

void check_shapes(const MoeFfn& f, uint64_t x_size, uint32_t tokens) {
  const uint32_t H = f.hidden(), F = f.ffn();
  if (f.up.rows != F || f.up.cols != H || f.down.rows != H || f.down.cols != F ||
      f.up.experts != f.gate.experts || f.down.experts != f.gate.experts)
    throw std::invalid_argument("moe reference: gate/up [H, F, E] and down [F, H, E] disagree");
  if (x_size < uint64_t(tokens) * H) throw std::invalid_argument("moe reference: x is too short");
}

}  // namespace

std::vector<double> moe_experts(const MoeFfn& f, uint32_t tokens, uint32_t k, std::span<const float> x,
                                std::span<const uint32_t> ids, std::span<const float> weights) {
  check_shapes(f, x.size(), tokens);
  if (ids.size() < uint64_t(tokens) * k || weights.size() < uint64_t(tokens) * k)
    throw std::invalid_argument("moe reference: ids or weights too short");
  const uint32_t H = f.hidden();
  std::vector<double> out(uint64_t(tokens) * H), xt(H);
  for (uint32_t t = 0; t < tokens; ++t) {
    for (uint32_t i = 0; i < H; ++i) xt[i] = x[uint64_t(t) * H + i];
    for (uint32_t j = 0; j < k; ++j) {
      const uint32_t e = ids[uint64_t(t) * k + j];
      if (e >= f.gate.experts) continue;  // empty slot
      add_expert(f, e, xt.data(), weights[uint64_t(t) * k + j], out.data() + uint64_t(t) * H);
    }
  }
  return out;
}

std::vector<double> shared_expert(const MoeFfn& f, uint32_t tokens, std::span<const float> x,
                                  std::span<const float> scale) {
  check_shapes(f, x.size(), tokens);
  if (f.gate.experts != 1) throw std::invalid_argument("shared expert reference: experts must be 1");
  const uint32_t H = f.hidden();
  std::vector<double> out(uint64_t(tokens) * H), xt(H);
  for (uint32_t t = 0; t < tokens; ++t) {
    for (uint32_t i = 0; i < H; ++i) xt[i] = x[uint64_t(t) * H + i];
    add_expert(f, 0, xt.data(), scale.empty() ? 1.0 : scale[t], out.data() + uint64_t(t) * H);
  }
  return out;
}

}  // namespace vkmoe::ref
