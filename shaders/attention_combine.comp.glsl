#version 450
// Merges the decode attention's split partials: one workgroup per (query head, token). Each split
// s left (m_s, l_s, acc_s[Dv]) (its max score, sum of exp(score - m_s) and unnormalised output);
// with M the max of the m_s (and of the head's sink logit, ATTN_SINKS),
//   o = sum_s exp(m_s - M) acc_s / (sum_s exp(m_s - M) l_s [+ exp(sink - M)]).
// An empty split has m_s = -inf and contributes 0.
#define USE_ATTN_PARAMS
#include "ops_params.h"

layout(local_size_x = ATTN_DECODE_WG) in;
layout(std430, binding = 0) readonly buffer Pb { float part[]; };  // [tokens, heads, splits, 2 + Dv]
layout(std430, binding = 1) writeonly buffer Ob { float o[]; };
layout(std430, binding = 2) readonly buffer Sb { float sinks[]; };

void main() {
  const uint h = gl_WorkGroupID.x, t = gl_WorkGroupID.y, Dv = p.v_head_dim, stride = 2 + Dv;
  const uint base = (t * p.heads + h) * p.splits * stride;
  const bool sink = (p.flags & ATTN_SINKS) != 0;
  float M = sink ? sinks[h] : -1.0 / 0.0;
  for (uint s = 0; s < p.splits; ++s) M = max(M, part[base + s * stride]);
  float l = sink ? exp(sinks[h] - M) : 0.0;
  for (uint s = 0; s < p.splits; ++s) l += part[base + s * stride + 1] * exp(part[base + s * stride] - M);
  const float inv = 1.0 / l;
  for (uint d = gl_LocalInvocationID.x; d < Dv; d += ATTN_DECODE_WG) {
    float a = 0.0;
    for (uint s = 0; s < p.splits; ++s) a += part[base + s * stride + 2 + d] * exp(part[base + s * stride] - M);
    o[t * p.o_stride + h * Dv + d] = a * inv;
  }
}
