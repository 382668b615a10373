// Push constants of the basic kernels (reduce_sum, scale_add_u32). See params_common.h.
#ifndef VKMOE_KERNEL_PARAMS_H
#define VKMOE_KERNEL_PARAMS_H
#include "params_common.h"

#ifdef __cplusplus
namespace vkmoe {
#endif

#if defined(__cplusplus) || defined(USE_REDUCE_PARAMS)
// reduce_sum: sums n floats; each workgroup writes one partial sum.
VKMOE_PARAMS(ReduceParams) {
  uint n;          // elements in the input
  uint per_group;  // elements each workgroup covers
} VKMOE_PARAMS_END(ReduceParams, 8);
#endif

#if defined(__cplusplus) || defined(USE_SCALE_ADD_PARAMS)
// scale_add_u32: y = x * mul + add over n uint32 words (round-trip and split-binding tests).
VKMOE_PARAMS(ScaleAddParams) {
  uint n;
  uint mul;
  uint add;
  uint pad;
} VKMOE_PARAMS_END(ScaleAddParams, 16);
#endif

// Workgroup sizes (local_size_x), read by the shaders and by the recorders' group counts.
#define REDUCE_SUM_WG 256
#define SCALE_ADD_WG 256

#ifdef __cplusplus
}  // namespace vkmoe
#endif
#endif
