// File-scope part of the types of issue 11 (dequant_ext.glsl holds their dequant8 branches):
// type numbers, the generated grid and value tables the including TYPE needs, and helpers.
// Included by dequant.glsl after its load helpers.

#define TYPE_Q4_1 3
#define TYPE_Q5_0 6
#define TYPE_Q5_1 7
#define TYPE_Q2_K 10
#define TYPE_Q3_K 11
#define TYPE_IQ2_XXS 16
#define TYPE_IQ2_XS 17
#define TYPE_IQ3_XXS 18
#define TYPE_IQ1_S 19
#define TYPE_IQ4_NL 20
#define TYPE_IQ3_S 21
#define TYPE_IQ2_S 22
#define TYPE_IQ4_XS 23
#define TYPE_IQ1_M 29
#define TYPE_MXFP4 39

// Only the tables of this shader's TYPE are compiled in (iq_tables.glsl is generated at build
// time from runtime/quant/tables/iq_grid_source.h).
#if TYPE == TYPE_IQ2_XXS
#define IQ_TABLE_IQ2XXS
#elif TYPE == TYPE_IQ2_XS
#define IQ_TABLE_IQ2XS
#elif TYPE == TYPE_IQ2_S
#define IQ_TABLE_IQ2S
#elif TYPE == TYPE_IQ3_XXS
#define IQ_TABLE_IQ3XXS
#elif TYPE == TYPE_IQ3_S
#define IQ_TABLE_IQ3S
#elif TYPE == TYPE_IQ1_S || TYPE == TYPE_IQ1_M
#define IQ_TABLE_IQ1S
#elif TYPE == TYPE_IQ4_NL || TYPE == TYPE_IQ4_XS
#define IQ_TABLE_IQ4NL
#elif TYPE == TYPE_MXFP4
#define IQ_TABLE_MXFP4
#endif
#include "iq_tables.glsl"

// Every weight kernel's main calls this first, in uniform control flow (before any return): the
// grid types load their grid into shared memory once per workgroup (iq_tables.glsl).
void dequant_prologue() {
#ifdef IQ_GRID_SHARED
  iq_grid_fill(gl_LocalInvocationIndex, gl_WorkGroupSize.x * gl_WorkGroupSize.y * gl_WorkGroupSize.z);
  barrier();
#endif
}

// Entry q (< 16) of a 16-value int8 table packed in a uvec4: the word by two selects, then the
// byte. An array indexed at run time was a per-invocation copy on lavapipe (2-5x slower).
float packed16_i8(uvec4 tbl, uint q) {
  const uvec2 half_ = (q & 8u) != 0u ? tbl.zw : tbl.xy;
  return float(bitfieldExtract(int((q & 4u) != 0u ? half_.y : half_.x), int((q & 3u) * 8u), 8));
}

#ifdef IQ_TABLE_IQ4NL
float iq4nl_value(uint q) { return packed16_i8(iq_values_iq4nl, q); }
#endif
#ifdef IQ_TABLE_MXFP4
float mxfp4_value(uint q) { return packed16_i8(iq_values_mxfp4, q); }
#endif

// ggml's ksigns_iq2xs: 7 stored sign bits, the 8th makes the count of negative signs even.
uint iq_sign_byte(uint s7) { return s7 | ((bitCount(s7) & 1u) << 7); }

// Entry i of a compact grid table (two 16-bit entries per uint).
#define IQ_ENTRY(tbl, i) ((tbl[(i) >> 1] >> (16u * ((i) & 1u))) & 0xFFFFu)

// The element bytes of a compact entry k, laid out as ggml's expanded grids (element j in byte j):
// 8 elements of 2-bit levels, or 4 of 3-bit levels.
uvec2 iq_expand2(uint k, uvec2 levels) {
  uvec2 r = uvec2(0u);
  for (uint j = 0; j < 4; ++j) {
    r.x |= ((levels.x >> (8u * ((k >> (2u * j)) & 3u))) & 255u) << (8u * j);
    r.y |= ((levels.x >> (8u * ((k >> (2u * j + 8u)) & 3u))) & 255u) << (8u * j);
  }
  return r;
}

uint iq_expand3(uint k, uvec2 levels) {
  uint r = 0u;
  for (uint j = 0; j < 4; ++j) {
    const uint l = (k >> (3u * j)) & 7u;
    r |= (((l < 4u ? levels.x : levels.y) >> (8u * (l & 3u))) & 255u) << (8u * j);
  }
  return r;
}

float iq_sign(uint signs, uint j) { return (signs & (1u << j)) != 0u ? -1.0 : 1.0; }

// The little-endian uint32 at an even byte offset b (blocks of these types are 2-byte aligned).
uint load_u32_at(uint t, uint piece, uint b) {
  return load_u16(t, piece, b) | (load_u16(t, piece, b + 2u) << 16);
}
