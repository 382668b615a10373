// CPU references for the dense transformer kernels, in double precision: the semantics
// runtime/kernels/transformer_ops.h must match. Inputs and outputs are packed row-major.
#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "runtime/kernels/transformer_ops.h"

namespace vkmoe {

// y = a / sqrt(mean(a^2) + eps) * w per group of n, a = x (+ residual when not empty).
std::vector<double> rms_norm_ref(std::span<const float> x, std::span<const float> w, uint32_t tokens,
                                 uint32_t groups, uint32_t n, double eps, std::span<const float> residual = {});
// LayerNorm (center) or RMS norm per group of n, then + bias[n] when not empty: y = (a - mean) /
// sqrt(mean((a - mean)^2) + eps) * w + b, mean = 0 without center.
std::vector<double> norm_ref(std::span<const float> x, std::span<const float> w, std::span<const float> bias,
                             uint32_t tokens, uint32_t groups, uint32_t n, double eps, bool center);

std::array<double, 2> rope_yarn_corr_dims_ref(uint32_t n_rot, uint32_t n_ctx_orig, double freq_base,
                                              double beta_fast, double beta_slow);
// x: [tokens, heads * head_dim]; freq_factors: [n_rot / 2] or empty.
std::vector<double> rope_ref(const RopeConfig& cfg, std::span<const float> x, std::span<const uint32_t> positions,
                             uint32_t heads, std::span<const float> freq_factors = {});

// q: [tokens, heads * head_dim]; k: [>= pos + tokens, kv_heads * head_dim], v: [.., kv_heads *
// v_head_dim] as the cache holds them (already rounded to f16); v_head_dim 0 = head_dim.
// Causal: query t sees rows 0 .. pos + t, or the last `window` of them. sinks (empty, or one
// logit per head) join each head's softmax denominator; chunked: rows floor((pos + t) / window) *
// window .. pos + t instead (llama4). Returns [tokens, heads * v_head_dim].
std::vector<double> attention_ref(std::span<const float> q, std::span<const float> k, std::span<const float> v,
                                  uint32_t tokens, uint32_t pos, uint32_t heads, uint32_t kv_heads,
                                  uint32_t head_dim, double scale, uint32_t v_head_dim = 0, uint32_t window = 0,
                                  std::span<const float> sinks = {}, bool chunked = false, double softcap = 0);

std::vector<double> silu_mul_ref(std::span<const float> a, std::span<const float> b);

// Ties go to the lower index; NaN never wins; a row of only NaN gives 0 (as record_argmax).
std::vector<uint32_t> argmax_ref(std::span<const float> x, uint32_t rows, uint32_t n);

// y[t, r] = sum_k w[r, k] x[t, k] (w already dequantized): [tokens, rows].
std::vector<double> matmul_ref(std::span<const float> w, std::span<const float> x, uint32_t rows, uint32_t cols,
                               uint32_t tokens);

}  // namespace vkmoe
