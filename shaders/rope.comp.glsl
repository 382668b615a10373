#version 450
// Rotary position embedding, as ggml's rope_ext computes it (normal/GPT-J and NeoX layouts,
// partial rotary, frequency scaling, YaRN). Invocation (token, head, pair i < head_dim / 2):
// pairs below n_rot / 2 rotate by
//   theta_extrap = pos * base^(-2i / n_rot) / freq_factor[i]
//   theta = mix(freq_scale * theta_extrap, theta_extrap, ramp(i) * ext_factor)
// with cos/sin scaled by mscale; the remaining dims are copied. The rotated dims start at
// rot_offset within each head (0 but for DeepSeek's q_pe / k_pe, which follow the unrotated
// part). y may alias x.
#define USE_ROPE_PARAMS
#include "ops_params.h"

layout(local_size_x = ROPE_WG) in;
layout(std430, binding = 0) readonly buffer Xb { float x[]; };
layout(std430, binding = 1) readonly buffer Pb { uint positions[]; };
layout(std430, binding = 2) readonly buffer Fb { float freq_factors[]; };
layout(std430, binding = 3) buffer Yb { float y[]; };

#include "rope_theta.glsl"

void main() {
  const uint half_dim = p.head_dim / 2;
  const uint gid = gl_GlobalInvocationID.x;
  const uint t = gl_WorkGroupID.y;
  if (gid >= p.heads * half_dim) return;
  const uint h = gid / half_dim, i = gid % half_dim;
  const uint xb = t * p.x_stride + h * p.head_dim, yb = t * p.y_stride + h * p.head_dim;
  const uint n_half = p.n_rot / 2, off = p.rot_offset;
  if (2 * i < off || i - off / 2 >= n_half) {  // outside the rotary part: copy the pair
    const uint d = 2 * i;
    const float a = x[xb + d], b = x[xb + d + 1];
    y[yb + d] = a;
    y[yb + d + 1] = b;
    return;
  }
  const bool neox = (p.flags & ROPE_NEOX) != 0;
  const uint r = i - off / 2;  // pair index inside the rotary part
  const uint d0 = off + (neox ? r : 2 * r), d1 = off + (neox ? r + n_half : 2 * r + 1);

  float theta_extrap = rope_theta_extrap(positions[t], r);
  if ((p.flags & ROPE_FREQ_FACTORS) != 0) theta_extrap /= freq_factors[r];
  const float theta = rope_theta(theta_extrap, r);
  const float c = cos(theta) * p.mscale, s = sin(theta) * p.mscale;
  const float a = x[xb + d0], b = x[xb + d1];
  y[yb + d0] = a * c - b * s;
  y[yb + d1] = a * s + b * c;
}
