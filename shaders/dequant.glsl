// Dequantization of GGML blocks read straight from the file's bytes, 8 elements at a time.
// The includer defines TYPE (a GGML type number) and `uint load_word(uint t, uint piece,
// uint i)` returning word i of tensor t's binding `piece`. Rows start at any 2-byte boundary
// (Q8_0, Q4_0, Q6_K and F16/BF16 rows need not be 4-byte aligned); every value is computed in
// ggml's operation order so it matches the CPU dequantizer up to FMA contraction.

#define TYPE_F32 0
#define TYPE_F16 1
#define TYPE_Q4_0 2
#define TYPE_Q8_0 8
#define TYPE_Q4_K 12
#define TYPE_Q5_K 13
#define TYPE_Q6_K 14
#define TYPE_BF16 30

uint load_u16(uint t, uint piece, uint b) {  // b even
  return (load_word(t, piece, b >> 2) >> ((b & 2u) * 8u)) & 0xFFFFu;
}

uint load_u8(uint t, uint piece, uint b) {
  return (load_word(t, piece, b >> 2) >> ((b & 3u) * 8u)) & 0xFFu;
}

// 8 bytes from any byte offset; only words holding some of them are read.
uvec2 load8(uint t, uint piece, uint b) {
  const uint w = b >> 2, s = (b & 3u) * 8u;
  const uint a0 = load_word(t, piece, w), a1 = load_word(t, piece, w + 1);
  if (s == 0) return uvec2(a0, a1);
  const uint a2 = load_word(t, piece, w + 2);
  return uvec2((a0 >> s) | (a1 << (32u - s)), (a1 >> s) | (a2 << (32u - s)));
}

uint byte_of(uvec2 q, uint i) { return ((i < 4 ? q.x : q.y) >> ((i & 3u) * 8u)) & 0xFFu; }

float half_to_float(uint h) { return unpackHalf2x16(h).x; }

#if TYPE == TYPE_F32 || TYPE == TYPE_F16 || TYPE == TYPE_BF16
#define ELEM_BYTES (TYPE == TYPE_F32 ? 4u : 2u)
float elem_from_bits(uint u) {
#if TYPE == TYPE_F32
  return uintBitsToFloat(u);
#elif TYPE == TYPE_F16
  return half_to_float(u);
#else
  return uintBitsToFloat(u << 16);
#endif
}
#endif

#include "dequant_ext_decl.glsl"  // the types of issue 11: numbers, tables, helpers

// Elements 8c .. 8c+7 of the row starting at byte row_byte. Elements at or past `cols` read 0
// (only plain float rows end inside a chunk of 8; quantized rows are whole blocks).
void dequant8(uint t, uint piece, uint row_byte, uint c, uint cols, out float v[8]) {
#if TYPE == TYPE_F32
  const uint w0 = (row_byte >> 2) + 8u * c;
  if (8u * c + 8u <= cols) {
    for (uint i = 0; i < 8; ++i) v[i] = uintBitsToFloat(load_word(t, piece, w0 + i));
  } else {
    for (uint i = 0; i < 8; ++i) v[i] = 8u * c + i < cols ? uintBitsToFloat(load_word(t, piece, w0 + i)) : 0.0;
  }
#elif TYPE == TYPE_F16 || TYPE == TYPE_BF16
  const uint b0 = row_byte + 16u * c;
  if (8u * c + 8u <= cols && (b0 & 3u) == 0) {
    for (uint i = 0; i < 4; ++i) {
      const uint w = load_word(t, piece, (b0 >> 2) + i);
      v[2 * i] = elem_from_bits(w & 0xFFFFu);
      v[2 * i + 1] = elem_from_bits(w >> 16);
    }
  } else {
    for (uint i = 0; i < 8; ++i) v[i] = 8u * c + i < cols ? elem_from_bits(load_u16(t, piece, b0 + 2u * i)) : 0.0;
  }
#elif TYPE == TYPE_Q8_0
  // 34-byte blocks: f16 d, 32 int8. y = q * d.
  const uint bb = row_byte + (c >> 2) * 34u;
  const float d = half_to_float(load_u16(t, piece, bb));
  const uvec2 q = load8(t, piece, bb + 2u + 8u * (c & 3u));
  for (uint i = 0; i < 8; ++i) v[i] = float(bitfieldExtract(int(i < 4 ? q.x : q.y), int((i & 3u) * 8u), 8)) * d;
#elif TYPE == TYPE_Q4_0
  // 18-byte blocks: f16 d, 16 bytes; element j in the low nibble of byte j, j + 16 in the high.
  const uint bb = row_byte + (c >> 2) * 18u;
  const float d = half_to_float(load_u16(t, piece, bb));
  const uvec2 q = load8(t, piece, bb + 2u + 8u * (c & 1u));
  const uint shift = (c & 2u) * 2u;
  for (uint i = 0; i < 8; ++i) v[i] = float(int((byte_of(q, i) >> shift) & 15u) - 8) * d;
#elif TYPE == TYPE_Q4_K || TYPE == TYPE_Q5_K
  // 256-element blocks of 8 sub-blocks j with 6-bit scale and min: y = d * sc * q - dmin * m.
  const uint bb = row_byte + (c >> 5) * (TYPE == TYPE_Q4_K ? 144u : 176u);
  const uint j = (c >> 2) & 7u, l0 = (c & 3u) * 8u;
  const vec2 dm = unpackHalf2x16(load_word(t, piece, bb >> 2));  // rows are 4-byte aligned
  uint sc, m;
  if (j < 4) {
    sc = load_u8(t, piece, bb + 4u + j) & 63u;
    m = load_u8(t, piece, bb + 8u + j) & 63u;
  } else {
    const uint s8 = load_u8(t, piece, bb + 8u + j);
    sc = (s8 & 15u) | ((load_u8(t, piece, bb + j) >> 6) << 4);
    m = (s8 >> 4) | ((load_u8(t, piece, bb + 4u + j) >> 6) << 4);
  }
  const float dl = dm.x * float(sc), ml = dm.y * float(m);
#if TYPE == TYPE_Q4_K
  const uvec2 q = load8(t, piece, bb + 16u + 32u * (j >> 1) + l0);
#else
  const uvec2 q = load8(t, piece, bb + 48u + 32u * (j >> 1) + l0);
  const uvec2 qh = load8(t, piece, bb + 16u + l0);
#endif
  const uint shift = (j & 1u) * 4u;
  for (uint i = 0; i < 8; ++i) {
    uint level = (byte_of(q, i) >> shift) & 15u;
#if TYPE == TYPE_Q5_K
    level += ((byte_of(qh, i) >> j) & 1u) * 16u;
#endif
    v[i] = dl * float(level) - ml;
  }
#elif TYPE == TYPE_Q6_K
  // 210-byte blocks: ql[128], qh[64], int8 scales[16], f16 d. Element 128h + 32k + l.
  const uint bb = row_byte + (c >> 5) * 210u;
  const uint j = (c >> 2) & 7u, l0 = (c & 3u) * 8u;
  const uint h = j >> 2, k = j & 3u;
  const uvec2 ql = load8(t, piece, bb + 64u * h + 32u * (k & 1u) + l0);
  const uvec2 qh = load8(t, piece, bb + 128u + 32u * h + l0);
  const uint sb = bb + 192u + 8u * h + l0 / 16u + 2u * k;
  const float sc = float(bitfieldExtract(int(load_u8(t, piece, sb)), 0, 8));
  const float ds = half_to_float(load_u16(t, piece, bb + 208u)) * sc;  // (d * scale) * q as ggml
  const uint qs = (k >> 1) * 4u;
  for (uint i = 0; i < 8; ++i) {
    const int q = int(((byte_of(ql, i) >> qs) & 15u) | (((byte_of(qh, i) >> (2u * k)) & 3u) << 4)) - 32;
    v[i] = ds * float(q);
  }
#else
#include "dequant_ext.glsl"
#endif
}
