#version 450
// Read bandwidth: every invocation sums vec4s at a grid stride (consecutive invocations read
// consecutive vec4s: coalesced on GPUs). No shared memory, no barriers. The sum is written only
// if it equals p.never, which zero-filled input never gives, so the output costs nothing but
// the compiler must still load every element.
#define USE_BENCH_READ_PARAMS
#include "bench_params.h"

layout(local_size_x = BENCH_WG) in;
layout(std430, binding = 0) readonly buffer In { vec4 x[]; };
layout(std430, binding = 1) writeonly buffer Out { float y[]; };

void main() {
  const uint stride = gl_NumWorkGroups.x * BENCH_WG;
  vec4 acc = vec4(0.0);
  for (uint i = gl_GlobalInvocationID.x; i < p.n4; i += stride) acc += x[i];
  const float s = acc.x + acc.y + acc.z + acc.w;
  if (s == p.never) y[0] = s;
}
