// Storage bindings of one or two expert weight tensors (a: gate or down, b: up), each split
// over PIECES bindings of consecutive experts, and load_word() for dequant.glsl.
// The includer defines PIECES (1 or MOE_MAX_PIECES), WA_BINDING and, for a second tensor,
// WB_BINDING; tensor a's pieces use bindings WA_BINDING.., b's WB_BINDING...
// Words, not bytes: weights are read as uint32 so no 8/16-bit storage feature is needed.

// Each binding is declared twice: as words, and as uvec4 (var##v) for 16-byte-aligned rows.
#define WEIGHT_BLOCK(name, var, bind)                                 \
  layout(std430, binding = bind) readonly buffer name { uint var[]; }; \
  layout(std430, binding = bind) readonly buffer name##v { uvec4 var##v[]; };

WEIGHT_BLOCK(WA0, wa0, WA_BINDING)
#if PIECES > 1
WEIGHT_BLOCK(WA1, wa1, WA_BINDING + 1)
WEIGHT_BLOCK(WA2, wa2, WA_BINDING + 2)
WEIGHT_BLOCK(WA3, wa3, WA_BINDING + 3)
#endif
#ifdef WB_BINDING
WEIGHT_BLOCK(WB0, wb0, WB_BINDING)
#if PIECES > 1
WEIGHT_BLOCK(WB1, wb1, WB_BINDING + 1)
WEIGHT_BLOCK(WB2, wb2, WB_BINDING + 2)
WEIGHT_BLOCK(WB3, wb3, WB_BINDING + 3)
#endif
#endif
#ifdef WSA_BINDING  // a shared expert's tensors (t = 2 and 3), one binding each
WEIGHT_BLOCK(WSA, wsa, WSA_BINDING)
#ifdef WSB_BINDING
WEIGHT_BLOCK(WSB, wsb, WSB_BINDING)
#endif
#endif

// Pieces actually in use: the includer may define it as a specialization constant, so that a
// tensor in one binding (the common case) costs no branch per load.
#ifndef PIECES_USED
#define PIECES_USED PIECES
#endif

// Word i (load_word) or 16-byte group i (load_word4) of piece `piece` of tensor t (0 = a, 1 = b,
// 2 and 3 the shared expert's). t is a constant at every call site and piece is uniform per
// workgroup, so the branches cost little once inlined.
#define LW_TYPE uint
#define LW_NAME load_word
#define LW(x) x
#include "moe_weights_load.glsl"
#undef LW_TYPE
#undef LW_NAME
#undef LW
#define LW_TYPE uvec4
#define LW_NAME load_word4
#define LW(x) x##v
#include "moe_weights_load.glsl"
#undef LW_TYPE
#undef LW_NAME
#undef LW

// Specialization constant 6, set by the host when every row of the bound weights starts at a
// multiple of 16 bytes: block types whose blocks are too (Q4_K, Q5_K) then load uvec4s.
layout(constant_id = 6) const bool W_VEC4 = false;
