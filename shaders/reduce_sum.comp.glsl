#version 450
// Sums p.n floats. Each workgroup reduces p.per_group consecutive elements into one partial
// sum; the host (or a second pass) adds the partials. The portable variant reduces in shared
// memory only; USE_SUBGROUP=1 reduces within each subgroup first, for any subgroup size.
#if USE_SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#define USE_REDUCE_PARAMS
#include "kernel_params.h"

layout(local_size_x = REDUCE_SUM_WG) in;
layout(std430, binding = 0) readonly buffer In { float x[]; };
layout(std430, binding = 1) writeonly buffer Out { float partial[]; };

shared float sums[REDUCE_SUM_WG];

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint begin = gl_WorkGroupID.x * p.per_group;
  const uint end = min(begin + p.per_group, p.n);
  float acc = 0.0;
  for (uint i = begin + tid; i < end; i += REDUCE_SUM_WG) acc += x[i];

#if USE_SUBGROUP
  acc = subgroupAdd(acc);
  if (subgroupElect()) sums[gl_SubgroupID] = acc;
  barrier();
  if (tid == 0) {
    float total = 0.0;
    for (uint s = 0; s < gl_NumSubgroups; ++s) total += sums[s];
    partial[gl_WorkGroupID.x] = total;
  }
#else
  sums[tid] = acc;
  barrier();
  for (uint stride = 128; stride > 0; stride >>= 1) {
    if (tid < stride) sums[tid] += sums[tid + stride];
    barrier();
  }
  if (tid == 0) partial[gl_WorkGroupID.x] = sums[0];
#endif
}
