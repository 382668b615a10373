// RoPE's angle for rotary pair r, as ggml's rope_ext computes it (frequency scaling and YaRN's
// ramp between interpolation and extrapolation). Needs a push-constant block p with n_rot,
// log2_base, freq_scale, ext_factor, corr_low and corr_high (RopeParams, RopeKvParams).
float rope_theta_extrap(uint pos, uint r) { return float(pos) * exp2(-2.0 * float(r) / float(p.n_rot) * p.log2_base); }

float rope_theta(float theta_extrap, uint r) {
  float theta = p.freq_scale * theta_extrap;
  if (p.ext_factor != 0.0) {
    const float ramp = 1.0 - clamp((float(r) - p.corr_low) / max(0.001, p.corr_high - p.corr_low), 0.0, 1.0);
    const float mix_w = ramp * p.ext_factor;
    theta = theta * (1.0 - mix_w) + theta_extrap * mix_w;
  }
  return theta;
}
