#version 450
// A plain matvec, the reference weight rate for vkmoe's kernels: y = W x, row-major W.
// INT8=0: F32 weights read as vec4. INT8=1: int8 weights packed 16 per uvec4, unpacked with
// unpackSnorm4x8 (value / 127, clamped to -1). No shared memory, no barriers.
// USE_SUBGROUP=1: one subgroup per row (lanes read consecutive vec4s, then subgroupAdd), any
// subgroup size. USE_SUBGROUP=0: one invocation per row.
#if USE_SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#define USE_BENCH_MATVEC_PARAMS
#include "bench_params.h"

layout(local_size_x = BENCH_WG) in;
#if INT8
layout(std430, binding = 0) readonly buffer W { uvec4 w[]; };
#else
layout(std430, binding = 0) readonly buffer W { vec4 w[]; };
#endif
layout(std430, binding = 1) readonly buffer X { vec4 x[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

float dot_block(uint row, uint i) {
#if INT8
  const uvec4 q = w[row * p.n + i];
  return dot(unpackSnorm4x8(q.x), x[4 * i]) + dot(unpackSnorm4x8(q.y), x[4 * i + 1]) +
         dot(unpackSnorm4x8(q.z), x[4 * i + 2]) + dot(unpackSnorm4x8(q.w), x[4 * i + 3]);
#else
  return dot(w[row * p.n + i], x[i]);
#endif
}

void main() {
#if USE_SUBGROUP
  // Grid-stride over rows, so the row count need not match the subgroups dispatched.
  const uint stride = gl_NumWorkGroups.x * gl_NumSubgroups;
  for (uint row = gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID; row < p.rows; row += stride) {
    float acc = 0.0;
    for (uint i = gl_SubgroupInvocationID; i < p.n; i += gl_SubgroupSize) acc += dot_block(row, i);
    acc = subgroupAdd(acc);
    if (subgroupElect()) y[row] = acc;
  }
#else
  const uint stride = gl_NumWorkGroups.x * BENCH_WG;
  for (uint row = gl_GlobalInvocationID.x; row < p.rows; row += stride) {
    float acc = 0.0;
    for (uint i = 0; i < p.n; ++i) acc += dot_block(row, i);
    y[row] = acc;
  }
#endif
}
