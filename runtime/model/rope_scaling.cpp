#include "runtime/model/rope_scaling.h"

#include <cmath>

#include "runtime/kernels/transformer_ops.h"

namespace vkmoe {

double rope_attn_factor(const ModelConfig& c, bool mla) {
  const double f = c.rope_attn_factor;
  return mla && c.rope_yarn ? f / yarn_rope_magnitude(c.rope_freq_scale) : f;
}

double rope_magnitude(const ModelConfig& c, bool mla) {
  const double f = rope_attn_factor(c, mla);
  return c.rope_yarn ? f * yarn_rope_magnitude(c.rope_freq_scale) : f;
}

double mla_logit_scale(const ModelConfig& c) {
  const double mscale = c.rope_yarn ? 1.0 + c.rope_yarn_log_mul * std::log(1.0 / c.rope_freq_scale) : 1.0;
  return mscale * mscale;
}

std::string rope_factors_tensor(const ModelConfig& c, uint32_t n_ctx) {
  if (c.rope_freqs) return "rope_freqs.weight";
  if (n_ctx > c.rope_yarn_orig_ctx) return c.rope_factors_long ? "rope_factors_long.weight" : "";
  return c.rope_factors_short ? "rope_factors_short.weight" : "";
}

}  // namespace vkmoe
