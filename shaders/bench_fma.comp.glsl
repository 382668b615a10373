#version 450
// Multiply-add rate: 8 independent chains of 4-wide fma per invocation (enough independent
// work to hide latency on GPUs and fill lavapipe's SIMD lanes). FP16=1: f16vec4 arithmetic.
// The result is written only if it equals p.never, so nothing is stored but nothing can be
// optimised away.
#if FP16
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#define VEC f16vec4
#else
#define VEC vec4
#endif
#define USE_BENCH_FMA_PARAMS
#include "bench_params.h"

layout(local_size_x = BENCH_WG) in;
layout(std430, binding = 0) writeonly buffer Out { float y[]; };

void main() {
  const VEC b = VEC(0.999), c = VEC(0.001);
  const VEC s = VEC(float(gl_GlobalInvocationID.x & 15u) * 0.0625);
  VEC a0 = s, a1 = s + VEC(0.1), a2 = s + VEC(0.2), a3 = s + VEC(0.3);
  VEC a4 = s + VEC(0.4), a5 = s + VEC(0.5), a6 = s + VEC(0.6), a7 = s + VEC(0.7);
  for (uint i = 0; i < p.iters; ++i) {
    a0 = fma(a0, b, c); a1 = fma(a1, b, c); a2 = fma(a2, b, c); a3 = fma(a3, b, c);
    a4 = fma(a4, b, c); a5 = fma(a5, b, c); a6 = fma(a6, b, c); a7 = fma(a7, b, c);
  }
  const vec4 t = vec4(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7);
  const float r = t.x + t.y + t.z + t.w;
  if (r == p.never) y[0] = r;
}
