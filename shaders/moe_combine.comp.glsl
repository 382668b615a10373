#version 450
// out[t, r] (+)= sum_j w[t, j] * (y[t * k + j, r] + b_e[r]) over the token's valid slots, in slot
// order (b: the down biases with MOE_BIAS, else 0): the batched path's deterministic replacement
// for float atomics.
#define USE_MOE_PARAMS
#include "moe_params.h"

#define WG MOE_COMBINE_WG
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer Y { float y[]; };
layout(std430, binding = 1) readonly buffer Ids { uint ids[]; };
layout(std430, binding = 2) readonly buffer W { float route_w[]; };
layout(std430, binding = 3) buffer Out { float out_[]; };
layout(std430, binding = 4) readonly buffer BD { float bias_d[]; };  // MOE_BIAS: [E][H]

#define MOE_IDS
#include "moe_common.glsl"

void main() {
  // 2D grid: maxComputeWorkGroupCount[0] can be as low as 65535.
  const uint i = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * WG + gl_LocalInvocationID.x;
  if (i >= p.tokens * p.rows) return;
  const uint t = i / p.rows, r = i % p.rows;
  float sum = 0.0;
  for (uint j = 0; j < p.k; ++j) {
    const uint gslot = (p.token_base + t) * p.k + j;
    const uint e = expert_of(gslot);
    if (e == EMPTY) continue;
    const float w = (p.flags & MOE_UNIT_WEIGHT) != 0 ? 1.0 : route_w[gslot];
    const float b = (p.flags & MOE_BIAS) != 0 ? bias_d[e * p.rows + r] : 0.0;
    sum += w * (y[(t * p.k + j) * p.rows + r] + b);
  }
  const uint o = (p.token_base + t) * p.rows + r;
  out_[o] = ((p.flags & MOE_ACCUMULATE) != 0 ? out_[o] : 0.0) + sum;
}
