#include "runtime/reference/ops_ref.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

namespace vkmoe {

std::vector<double> rms_norm_ref(std::span<const float> x, std::span<const float> w, uint32_t tokens,
                                 uint32_t groups, uint32_t n, double eps, std::span<const float> residual) {
  std::vector<double> y(size_t(tokens) * groups * n);
  std::vector<double> a(n);
  for (size_t g = 0; g < size_t(tokens) * groups; ++g) {
    double ss = 0;
    for (uint32_t i = 0; i < n; ++i) {
      a[i] = double(x[g * n + i]) + (residual.empty() ? 0.0 : double(residual[g * n + i]));
      ss += a[i] * a[i];
    }
    const double inv = 1.0 / std::sqrt(ss / n + eps);
    for (uint32_t i = 0; i < n; ++i) y[g * n + i] = a[i] * inv * w[i];
  }
  return y;
}

std::vector<double> norm_ref(std::span<const float> x, std::span<const float> w, std::span<const float> bias,
                             uint32_t tokens, uint32_t groups, uint32_t n, double eps, bool center) {
  std::vector<double> y(size_t(tokens) * groups * n);
  for (size_t g = 0; g < size_t(tokens) * groups; ++g) {
    double mean = 0, ss = 0;
    if (center) {
      for (uint32_t i = 0; i < n; ++i) mean += x[g * n + i];
      mean /= n;
    }
    for (uint32_t i = 0; i < n; ++i) ss += (x[g * n + i] - mean) * (x[g * n + i] - mean);
    const double inv = 1.0 / std::sqrt(ss / n + eps);
    for (uint32_t i = 0; i < n; ++i) y[g * n + i] = (x[g * n + i] - mean) * inv * w[i] + (bias.empty() ? 0.0 : bias[i]);
  }
  return y;
}

std::array<double, 2> rope_yarn_corr_dims_ref(uint32_t n_rot, uint32_t n_ctx_orig, double freq_base,
                                              double beta_fast, double beta_slow) {
  auto corr_dim = [&](double rotations) {
    return n_rot * std::log(n_ctx_orig / (rotations * 2 * std::numbers::pi)) / (2 * std::log(freq_base));
  };
  return {std::max(0.0, std::floor(corr_dim(beta_fast))), std::min(n_rot - 1.0, std::ceil(corr_dim(beta_slow)))};
}

std::vector<double> rope_ref(const RopeConfig& cfg, std::span<const float> x, std::span<const uint32_t> positions,
                             uint32_t heads, std::span<const float> freq_factors) {
  const uint32_t D = cfg.head_dim, half = cfg.n_rot / 2;
  std::vector<double> y(x.begin(), x.end());
  double mscale = cfg.attn_factor;
  std::array<double, 2> corr{0, 0};
  if (cfg.ext_factor != 0) {
    mscale *= yarn_rope_magnitude(cfg.freq_scale);
    corr = rope_yarn_corr_dims_ref(cfg.n_rot, cfg.n_ctx_orig, cfg.freq_base, cfg.beta_fast, cfg.beta_slow);
  }
  for (size_t t = 0; t < positions.size(); ++t)
    for (uint32_t h = 0; h < heads; ++h) {
      const size_t base = (t * heads + h) * D + cfg.rot_offset;
      for (uint32_t i = 0; i < half; ++i) {
        double extrap = positions[t] * std::pow(double(cfg.freq_base), -2.0 * i / cfg.n_rot);
        if (!freq_factors.empty()) extrap /= freq_factors[i];
        double theta = cfg.freq_scale * extrap;
        if (cfg.ext_factor != 0) {
          const double ramp = 1.0 - std::clamp((i - corr[0]) / std::max(0.001, corr[1] - corr[0]), 0.0, 1.0);
          const double mix = ramp * cfg.ext_factor;
          theta = theta * (1 - mix) + extrap * mix;
        }
        const double c = std::cos(theta) * mscale, s = std::sin(theta) * mscale;
        const size_t d0 = base + (cfg.neox ? i : 2 * i), d1 = base + (cfg.neox ? i + half : 2 * i + 1);
        const double a = x[d0], b = x[d1];
        y[d0] = a * c - b * s;
        y[d1] = a * s + b * c;
      }
    }
  return y;
}

std::vector<double> attention_ref(std::span<const float> q, std::span<const float> k, std::span<const float> v,
                                  uint32_t tokens, uint32_t pos, uint32_t heads, uint32_t kv_heads,
                                  uint32_t head_dim, double scale, uint32_t v_head_dim, uint32_t window,
                                  std::span<const float> sinks, bool chunked, double softcap) {
  const uint32_t D = head_dim, Dv = v_head_dim ? v_head_dim : head_dim, group = heads / kv_heads;
  std::vector<double> o(size_t(tokens) * heads * Dv, 0.0);
  std::vector<double> s;
  for (uint32_t t = 0; t < tokens; ++t)
    for (uint32_t h = 0; h < heads; ++h) {
      const uint32_t len = pos + t + 1, kvh = h / group;
      const uint32_t lo = chunked ? (len - 1) / window * window : window && len > window ? len - window : 0;
      const float* qh = &q[(size_t(t) * heads + h) * D];
      s.assign(len, 0.0);
      double m = sinks.empty() ? -std::numeric_limits<double>::infinity() : double(sinks[h]);
      for (uint32_t j = lo; j < len; ++j) {
        const float* kj = &k[(size_t(j) * kv_heads + kvh) * D];
        double acc = 0;
        for (uint32_t d = 0; d < D; ++d) acc += double(qh[d]) * kj[d];
        s[j] = acc * scale;
        if (softcap > 0) s[j] = softcap * std::tanh(s[j] / softcap);
        m = std::max(m, s[j]);
      }
      double sum = sinks.empty() ? 0.0 : std::exp(sinks[h] - m);
      for (uint32_t j = lo; j < len; ++j) sum += (s[j] = std::exp(s[j] - m));
      double* oh = &o[(size_t(t) * heads + h) * Dv];
      for (uint32_t j = lo; j < len; ++j) {
        const float* vj = &v[(size_t(j) * kv_heads + kvh) * Dv];
        for (uint32_t d = 0; d < Dv; ++d) oh[d] += s[j] / sum * vj[d];
      }
    }
  return o;
}

std::vector<double> silu_mul_ref(std::span<const float> a, std::span<const float> b) {
  std::vector<double> y(a.size());
  for (size_t i = 0; i < a.size(); ++i) y[i] = double(a[i]) / (1.0 + std::exp(-double(a[i]))) * b[i];
  return y;
}

std::vector<uint32_t> argmax_ref(std::span<const float> x, uint32_t rows, uint32_t n) {
  std::vector<uint32_t> ids(rows, 0);
  for (uint32_t r = 0; r < rows; ++r) {
    int best = -1;
    for (uint32_t i = 0; i < n; ++i) {
      const float v = x[size_t(r) * n + i];
      if (std::isnan(v)) continue;
      if (best < 0 || v > x[size_t(r) * n + best]) best = int(i);
    }
    ids[r] = best < 0 ? 0 : uint32_t(best);
  }
  return ids;
}

std::vector<double> matmul_ref(std::span<const float> w, std::span<const float> x, uint32_t rows, uint32_t cols,
                               uint32_t tokens) {
  std::vector<double> y(size_t(tokens) * rows);
  for (uint32_t t = 0; t < tokens; ++t)
    for (uint32_t r = 0; r < rows; ++r) {
      double acc = 0;
      for (uint32_t c = 0; c < cols; ++c) acc += double(w[size_t(r) * cols + c]) * x[size_t(t) * cols + c];
      y[size_t(t) * rows + r] = acc;
    }
  return y;
}

}  // namespace vkmoe
