// Macros for push-constant blocks shared by C++ and GLSL: each block is written once, in a
// header under shaders/, and both sides include it, so they cannot drift apart.
// GLSL may declare one push-constant block per shader: a shader defines USE_<NAME> before
// including a params header to pick its own block. C++ sees every block, with a static_assert
// on each size.
#ifndef VKMOE_PARAMS_COMMON_H
#define VKMOE_PARAMS_COMMON_H

#ifdef __cplusplus
#include <cstdint>
namespace vkmoe {
using uint = uint32_t;
}
#define VKMOE_PARAMS(name) struct name
#define VKMOE_PARAMS_END(name, bytes) \
  ;                                   \
  static_assert(sizeof(name) == (bytes), #name " must match its GLSL push-constant block")
#else
#define VKMOE_PARAMS(name) layout(push_constant) uniform name##_block
#define VKMOE_PARAMS_END(name, bytes) p
#endif

#endif
