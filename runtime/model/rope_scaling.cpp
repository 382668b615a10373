#include "runtime/model/rope_scaling.h"

#include <cmath>

#include "runtime/kernels/transformer_ops.h"

namespace vkmoe {

namespace {

// rope.scaling.yarn_log_multiplier as llama.cpp reads it: for deepseek2 (MLA) only, else 0.
double yarn_log_mul(const ModelConfig& c, bool mla) { return mla ? c.rope_yarn_log_mul : 0.0; }

}  // namespace

double rope_attn_factor(const ModelConfig& c, bool mla) {
  const double f = c.rope_attn_factor;
  // Under YaRN: f times the mscale ratio (1 with L, g without) over g.
  return c.rope_yarn && yarn_log_mul(c, mla) != 0 ? f / yarn_rope_magnitude(c.rope_freq_scale) : f;
}

double rope_magnitude(const ModelConfig& c, bool mla) {
  const double f = rope_attn_factor(c, mla);
  return c.rope_yarn ? f * yarn_rope_magnitude(c.rope_freq_scale) : f;
}

double mla_logit_scale(const ModelConfig& c) {
  const double L = yarn_log_mul(c, true), ln_f = std::log(1.0 / c.rope_freq_scale);
  // deepseek2.cpp's attn_factor_org: RoPE's argument times g (g even without YaRN, as written there).
  const double org = c.rope_yarn && L != 0 ? c.rope_attn_factor : c.rope_attn_factor * yarn_rope_magnitude(c.rope_freq_scale);
  const double mscale = org * (1.0 + L * ln_f);
  return mscale * mscale;
}

std::string rope_factors_tensor(const ModelConfig& c, uint32_t n_ctx) {
  if (c.rope_freqs) return "rope_freqs.weight";
  if (n_ctx > c.rope_yarn_orig_ctx) return c.rope_factors_long ? "rope_factors_long.weight" : "";
  return c.rope_factors_short ? "rope_factors_short.weight" : "";
}

}  // namespace vkmoe
