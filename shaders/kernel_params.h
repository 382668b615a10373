// Push-constant blocks shared by C++ and GLSL: one definition, so the two sides cannot drift.
// GLSL includes this inside `layout(push_constant) uniform`, C++ as plain structs with a
// static_assert on each size.
#ifndef VKMOE_KERNEL_PARAMS_H
#define VKMOE_KERNEL_PARAMS_H

#ifdef __cplusplus
#include <cstdint>
namespace vkmoe {
using uint = uint32_t;
#define VKMOE_PARAMS(name) struct name
#define VKMOE_PARAMS_END(name, bytes) \
  ;                                   \
  static_assert(sizeof(name) == (bytes), #name " must match its GLSL push-constant block")
#else
#define VKMOE_PARAMS(name) layout(push_constant) uniform name##_block
#define VKMOE_PARAMS_END(name, bytes) p
#endif

// A GLSL shader may declare one push-constant block: it defines USE_<NAME> before including
// this file to pick its own. C++ sees every block.

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

#ifdef __cplusplus
}  // namespace vkmoe
#undef VKMOE_PARAMS
#undef VKMOE_PARAMS_END
#endif

#endif
