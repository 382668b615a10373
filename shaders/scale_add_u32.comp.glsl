#version 450
// y[i] = x[i] * mul + add for n uint32 words. Used to prove that data larger than one
// storage-buffer binding is split into bindings and every word is touched exactly once.
#define USE_SCALE_ADD_PARAMS
#include "kernel_params.h"

layout(local_size_x = SCALE_ADD_WG) in;
layout(std430, binding = 0) readonly buffer In { uint x[]; };
layout(std430, binding = 1) writeonly buffer Out { uint y[]; };

void main() {
  // 2D grid: maxComputeWorkGroupCount[0] can be as low as 65535.
  const uint i = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * SCALE_ADD_WG + gl_LocalInvocationID.x;
  if (i < p.n) y[i] = x[i] * p.mul + p.add;
}
