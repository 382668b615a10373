#version 450
// Packed int8 dot-product rate (GL_EXT_integer_dot_product, 4 multiply-adds per call): 8
// independent accumulator chains per invocation. Built only when glslc knows the extension
// (cmake/shaders.cmake probes it) and run only where the device has integer dot products.
#extension GL_EXT_integer_dot_product : require
#define USE_BENCH_FMA_PARAMS
#include "bench_params.h"

layout(local_size_x = BENCH_WG) in;
layout(std430, binding = 0) writeonly buffer Out { float y[]; };

void main() {
  const uint a = 0x01020304u ^ gl_GlobalInvocationID.x, b = 0x05fe07f9u;
  int c0 = 0, c1 = 1, c2 = 2, c3 = 3, c4 = 4, c5 = 5, c6 = 6, c7 = 7;
  for (uint i = 0; i < p.iters; ++i) {
    c0 = dotPacked4x8AccSatEXT(a, b, c0); c1 = dotPacked4x8AccSatEXT(a, b, c1);
    c2 = dotPacked4x8AccSatEXT(a, b, c2); c3 = dotPacked4x8AccSatEXT(a, b, c3);
    c4 = dotPacked4x8AccSatEXT(a, b, c4); c5 = dotPacked4x8AccSatEXT(a, b, c5);
    c6 = dotPacked4x8AccSatEXT(a, b, c6); c7 = dotPacked4x8AccSatEXT(a, b, c7);
  }
  const float r = float(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7);
  if (r == p.never) y[0] = r;
}
