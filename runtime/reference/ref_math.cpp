#include "runtime/reference/ref_math.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "runtime/model/model_config.h"
#include "runtime/model/rope_scaling.h"
#include "runtime/reference/ops_ref.h"

namespace vkmoe::ref {

Vec matvec(const Mat& m, const Vec& x, uint64_t row0, uint64_t n) {
  if (n == UINT64_MAX) n = m.rows - row0;
  Vec y(n);
  for (uint64_t r = 0; r < n; ++r) {
    const float* w = m.row(row0 + r);
    double acc = 0;
    for (uint64_t c = 0; c < m.cols; ++c) acc += static_cast<double>(w[c]) * x[c];
    y[r] = acc;
  }
  return y;
}

void add_bias(Vec& y, const Mat* b) {
  if (b)
    for (size_t i = 0; i < y.size(); ++i) y[i] += b->w[i];
}

void scale_by(Vec& y, double s) {
  if (s != 1.0)
    for (auto& v : y) v *= s;
}

void rms_norm(Vec& x, const Mat& w, double eps, size_t group) {
  if (group == 0) group = x.size();
  for (size_t g0 = 0; g0 < x.size(); g0 += group) {
    double ss = 0;
    for (size_t i = 0; i < group; ++i) ss += x[g0 + i] * x[g0 + i];
    const double inv = 1.0 / std::sqrt(ss / group + eps);
    for (size_t i = 0; i < group; ++i) x[g0 + i] = x[g0 + i] * inv * w.w[i];
  }
}

double silu(double v) { return v / (1.0 + std::exp(-v)); }

void rope(Vec& x, uint32_t heads, uint32_t head_dim, uint32_t pos, const ModelConfig& c, uint32_t offset, bool mla,
          const Mat* freq_factors) {
  const uint32_t n_rot = c.n_rot;
  const double mscale = rope_magnitude(c, mla);
  std::array<double, 2> corr{0, 0};
  if (c.rope_yarn) {
    corr = rope_yarn_corr_dims_ref(n_rot, c.rope_yarn_orig_ctx, c.rope_freq_base, c.rope_yarn_beta_fast,
                                   c.rope_yarn_beta_slow);
  }
  for (uint32_t h = 0; h < heads; ++h) {
    double* v = x.data() + static_cast<size_t>(h) * head_dim + offset;
    for (uint32_t i = 0; i < n_rot / 2; ++i) {
      double extrap = pos * std::pow(static_cast<double>(c.rope_freq_base), -2.0 * i / n_rot);
      if (freq_factors) extrap /= freq_factors->w[i];  // rope_freqs or LongRoPE's
      double theta = c.rope_freq_scale * extrap;
      if (c.rope_yarn) {
        const double mix =
            (1.0 - std::clamp((i - corr[0]) / std::max(0.001, corr[1] - corr[0]), 0.0, 1.0)) * c.rope_yarn_ext_factor;
        theta = theta * (1 - mix) + extrap * mix;
      }
      const double cs = std::cos(theta) * mscale, sn = std::sin(theta) * mscale;
      const uint32_t a = c.rope_layout == RopeLayout::neox ? i : 2 * i;
      const uint32_t b = c.rope_layout == RopeLayout::neox ? i + n_rot / 2 : 2 * i + 1;
      const double x0 = v[a], x1 = v[b];
      v[a] = x0 * cs - x1 * sn;
      v[b] = x0 * sn + x1 * cs;
    }
  }
}

}  // namespace vkmoe::ref
