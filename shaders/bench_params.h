// Push constants of the bench kernels (runtime/bench/peak.cpp). See params_common.h.
#ifndef VKMOE_BENCH_PARAMS_H
#define VKMOE_BENCH_PARAMS_H
#include "params_common.h"

#ifdef __cplusplus
namespace vkmoe {
#endif

#if defined(__cplusplus) || defined(USE_BENCH_READ_PARAMS)
// bench_read: reads n vec4s, grid-stride; writes only when the sum equals `never` (it does not).
VKMOE_PARAMS(BenchReadParams) {
  uint n4;     // vec4s in the buffer
  float never; // a value the sum of the (zero-filled) input cannot take
} VKMOE_PARAMS_END(BenchReadParams, 8);
#endif

#if defined(__cplusplus) || defined(USE_BENCH_MATVEC_PARAMS)
// bench_matvec_*: y[rows] = W[rows, cols] x[cols]; n = vec4s (F32) or uvec4s (int8) per row.
VKMOE_PARAMS(BenchMatvecParams) {
  uint rows;
  uint n;
} VKMOE_PARAMS_END(BenchMatvecParams, 8);
#endif

#if defined(__cplusplus) || defined(USE_BENCH_FMA_PARAMS)
// bench_fma_* / bench_int_dot: `iters` rounds of 8 independent 4-wide multiply-adds (or packed
// 4x8 dot products) per invocation; writes only when the result equals `never`.
VKMOE_PARAMS(BenchFmaParams) {
  uint iters;
  float never;
} VKMOE_PARAMS_END(BenchFmaParams, 8);
#endif

// Workgroup size (local_size_x) of every bench shader; the bench's FLOP counts use it.
#define BENCH_WG 64

#ifdef __cplusplus
}  // namespace vkmoe
#endif
#endif
