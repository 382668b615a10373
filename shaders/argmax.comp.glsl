#version 450
// Index of the largest value of each row (greedy sampling without downloading logits).
// Ties go to the lower index; NaN never wins; a row of only NaN or -inf gives index 0.
#define USE_ARGMAX_PARAMS
#include "ops_params.h"

#define WG 128
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer Xb { float x[]; };
layout(std430, binding = 1) writeonly buffer Ib { uint ids[]; };

shared float best_v[WG];
shared uint best_i[WG];

void main() {
  const uint r = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
  if (r >= p.rows) return;  // uniform per workgroup
  const uint tid = gl_LocalInvocationID.x;
  float bv = -1.0 / 0.0;
  uint bi = 0xFFFFFFFFu;
  for (uint i = tid; i < p.n; i += WG) {
    const float v = x[r * p.stride + i];
    if (v > bv || (bi == 0xFFFFFFFFu && v == bv)) {  // strict: the first index wins a tie
      bv = v;
      bi = i;
    }
  }
  best_v[tid] = bv;
  best_i[tid] = bi;
  barrier();
  for (uint s = WG / 2; s > 0; s >>= 1) {
    if (tid < s) {
      const float v = best_v[tid + s];
      const uint i = best_i[tid + s];
      if (v > best_v[tid] || (v == best_v[tid] && i < best_i[tid])) {
        best_v[tid] = v;
        best_i[tid] = i;
      }
    }
    barrier();
  }
  if (tid == 0) ids[r] = best_i[0] == 0xFFFFFFFFu ? 0u : best_i[0];
}
