#version 450
// RMS norm: y = a / sqrt(mean(a^2) + eps) * w over groups of n floats, where a = x (or x + r
// with RMS_RESIDUAL, optionally stored into `sum`). A token row holds `groups` groups, so the
// same kernel does whole-row norms (groups = 1) and per-head QK-norm (groups = heads, n =
// head_dim, one shared weight). One workgroup per group. y and sum may alias x: each
// invocation reads its elements before writing them. RMS_CENTER makes it a LayerNorm (the
// group's mean subtracted first, variance about it); RMS_BIAS adds b[n] after the weight;
// RMS_ACCUMULATE adds the result into y (Grok's post norm and its residual add; y must not
// alias x then).
#if USE_SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#define USE_RMS_NORM_PARAMS
#include "ops_params.h"

#define WG 128
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer Xb { float x[]; };
layout(std430, binding = 1) readonly buffer Rb { float r[]; };
layout(std430, binding = 2) readonly buffer Wb { float w[]; };
layout(std430, binding = 3) buffer Yb { float y[]; };
layout(std430, binding = 4) buffer Sb { float sum[]; };
layout(std430, binding = 5) readonly buffer Bb { float b[]; };

#include "wg_reduce.glsl"

void main() {
  const uint item = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
  if (item >= p.tokens * p.groups) return;  // uniform per workgroup
  const uint t = item / p.groups, g = item % p.groups;
  const uint xb = p.x_offset + t * p.x_stride + g * p.n, yb = t * p.y_stride + g * p.n;
  const uint tid = gl_LocalInvocationID.x;
  const bool residual = (p.flags & RMS_RESIDUAL) != 0;

  const bool center = (p.flags & RMS_CENTER) != 0;
  float ss = 0.0, s1 = 0.0;
  for (uint i = tid; i < p.n; i += WG) {
    float a = x[xb + i];
    if (residual) {
      a += r[xb + i];
      if ((p.flags & RMS_WRITE_SUM) != 0) sum[xb + i] = a;
    }
    ss += a * a;
    s1 += a;
  }
  // LayerNorm: a second pass over the centred values (not E[a^2] - mean^2, which cancels).
  const float mean = center ? wg_sum(s1) / float(p.n) : 0.0;
  if (center) {
    ss = 0.0;
    for (uint i = tid; i < p.n; i += WG) {
      const float a = ((p.flags & RMS_WRITE_SUM) != 0 ? sum[xb + i] : residual ? x[xb + i] + r[xb + i] : x[xb + i]) - mean;
      ss += a * a;
    }
  }
  const float inv = 1.0 / sqrt(wg_sum(ss) / float(p.n) + p.eps);
  const bool bias = (p.flags & RMS_BIAS) != 0;
  for (uint i = tid; i < p.n; i += WG) {
    // Read back the stored sum: `sum` may alias x (the residual stream updated in place).
    const float a = (p.flags & RMS_WRITE_SUM) != 0 ? sum[xb + i] : residual ? x[xb + i] + r[xb + i] : x[xb + i];
    const float v = (a - mean) * inv * w[i] + (bias ? b[i] : 0.0);
    y[yb + i] = (p.flags & RMS_ACCUMULATE) != 0 ? y[yb + i] + v : v;
  }
}
