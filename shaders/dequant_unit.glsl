// Faster per-type paths beside dequant.glsl's dequant8 (include after it): a lane takes a whole
// unit of UNIT elements (a block or a pair of K-quant sub-blocks) and gets its quantized levels
// as floats plus one affine pair per 16 elements, y = ab.x * q + ab.y. A dot product with x is
// then sum over halves of ab.x * dot(q, x) + ab.y * sum(x): two multiply-adds per weight, the
// scales decoded once per unit instead of once per 8, and whole words loaded once. Defines
// HAS_UNIT for the types it covers (block types: rows are whole units; plain float types with
// UNIT_TAIL: whole units only where W_VEC4, the rest by dequant8); others use dequant8.
// The includer enables GL_EXT_control_flow_attributes: the unpacking loops must unroll, or
// their arrays become private memory indexed per lane (Q5_K/Q6_K were 5x slower so).

// 4 * N bytes from byte b (even) into w, without a branch (block starts alternate between
// 0 and 2 mod 4 within a row, so a branch would diverge across lanes). Reads only words that
// hold some of the bytes: when aligned, the last word is read twice instead of one past.
// With W_VEC4 (bindings and rows 16-byte aligned, a specialization constant) and N a multiple
// of 4, the bytes come from N / 4 + 1 uvec4 loads instead of N + 1 word loads: the window of
// N + 1 words at b's offset within the first uvec4 is picked by selects (no array indexed at run
// time), and loads past the last needed uvec4 repeat it (never past the row's end).
#define LOAD_WORDS(N)                                                       \
  void load_words##N(uint t, uint piece, uint b, out uint w[N]) {           \
    const uint s = (b & 2u) * 8u;                                           \
    if (W_VEC4 && N % 4 == 0) {                                             \
      const uint g0 = b >> 4, gl = (b + 4u * N - 1u) >> 4;                  \
      const bool odd = ((b >> 2) & 1u) != 0, two = ((b >> 3) & 1u) != 0;    \
      uint raw[N + 4], sel2[N + 2];                                         \
      [[unroll]] for (uint k = 0; k < N / 4 + 1; ++k) {                     \
        const uvec4 v = load_word4(t, piece, min(g0 + k, gl));              \
        raw[4 * k] = v.x, raw[4 * k + 1] = v.y, raw[4 * k + 2] = v.z, raw[4 * k + 3] = v.w; \
      }                                                                     \
      [[unroll]] for (uint j = 0; j < N + 2; ++j) sel2[j] = two ? raw[j + 2] : raw[j]; \
      uint prev = odd ? sel2[1] : sel2[0];                                  \
      [[unroll]] for (uint i = 0; i < N; ++i) {                             \
        const uint next = odd ? sel2[i + 2] : sel2[i + 1];                  \
        w[i] = (prev >> s) | ((next << (31u - s)) << 1u);                   \
        prev = next;                                                        \
      }                                                                     \
      return;                                                               \
    }                                                                       \
    const uint w0 = b >> 2, last = N - 1 + (s >> 4);                        \
    uint prev = load_word(t, piece, w0);                                    \
    [[unroll]] for (uint i = 0; i < N; ++i) {                               \
      const uint next = load_word(t, piece, w0 + min(i + 1, last));         \
      w[i] = (prev >> s) | ((next << (31u - s)) << 1u);                     \
      prev = next;                                                          \
    }                                                                       \
  }

uint byte_in(uint w[8], uint i) { return (w[i >> 2] >> ((i & 3u) * 8u)) & 0xFFu; }

#if TYPE == TYPE_Q8_0
#define HAS_UNIT 1
#define UNIT 32
LOAD_WORDS(8)
void unit_q(uint t, uint piece, uint row_byte, uint u, out float q[UNIT], out vec2 ab[UNIT / 16]) {
  const uint bb = row_byte + u * 34u;
  const float d = half_to_float(load_u16(t, piece, bb));
  uint w[8];
  load_words8(t, piece, bb + 2u, w);
  [[unroll]] for (uint i = 0; i < 32; ++i) q[i] = float(bitfieldExtract(int(w[i >> 2]), int((i & 3u) * 8u), 8));
  ab[0] = ab[1] = vec2(d, 0.0);
}
#elif TYPE == TYPE_Q4_0
#define HAS_UNIT 1
#define UNIT 32
LOAD_WORDS(4)
void unit_q(uint t, uint piece, uint row_byte, uint u, out float q[UNIT], out vec2 ab[UNIT / 16]) {
  const uint bb = row_byte + u * 18u;
  const float d = half_to_float(load_u16(t, piece, bb));
  uint w[4];
  load_words4(t, piece, bb + 2u, w);
  [[unroll]] for (uint i = 0; i < 16; ++i) {
    const uint byte = (w[i >> 2] >> ((i & 3u) * 8u)) & 0xFFu;
    q[i] = float(int(byte & 15u) - 8);
    q[16 + i] = float(int(byte >> 4) - 8);
  }
  ab[0] = ab[1] = vec2(d, 0.0);
}
#elif TYPE == TYPE_Q4_K || TYPE == TYPE_Q5_K
#define HAS_UNIT 1
#define UNIT 64  // sub-blocks 2p and 2p + 1: the low and high nibbles of the same 32 bytes
// Scale and min of sub-block j from the 12 scale bytes s (as in dequant8 and ggml).
uvec2 kquant_scale_min(uint s[3], uint j) {
  const uint sj = (s[j >> 2] >> ((j & 3u) * 8u)) & 0xFFu;  // byte j
  const uint s4 = (s[(j + 4) >> 2] >> (((j + 4) & 3u) * 8u)) & 0xFFu;  // byte j + 4
  if (j < 4) return uvec2(sj & 63u, s4 & 63u);
  const uint sm4 = (s[(j - 4) >> 2] >> (((j - 4) & 3u) * 8u)) & 0xFFu;  // byte j - 4
  return uvec2((s4 & 15u) | ((sm4 >> 6) << 4), (s4 >> 4) | ((sj >> 6) << 4));
}
void unit_q(uint t, uint piece, uint row_byte, uint u, out float q[UNIT], out vec2 ab[UNIT / 16]) {
  const uint bb = row_byte + (u >> 2) * (TYPE == TYPE_Q4_K ? 144u : 176u), pair = u & 3u;
  const uint wb = bb >> 2;  // K-quant rows are 4-byte aligned
  uint hd[4], w[8];  // header (d, dmin, 12 scale bytes), then this pair's 32 bytes of nibbles
  if (W_VEC4) {  // a constant: blocks of 144 and 176 bytes keep 16-byte-aligned rows aligned
    const uvec4 h4 = load_word4(t, piece, wb >> 2);
    const uint qw = (wb >> 2) + (TYPE == TYPE_Q4_K ? 1u : 3u) + 2u * pair;
    const uvec4 q0 = load_word4(t, piece, qw), q1 = load_word4(t, piece, qw + 1u);
    hd[0] = h4.x, hd[1] = h4.y, hd[2] = h4.z, hd[3] = h4.w;
    w[0] = q0.x, w[1] = q0.y, w[2] = q0.z, w[3] = q0.w, w[4] = q1.x, w[5] = q1.y, w[6] = q1.z, w[7] = q1.w;
  } else {
    [[unroll]] for (uint i = 0; i < 4; ++i) hd[i] = load_word(t, piece, wb + i);
    [[unroll]] for (uint i = 0; i < 8; ++i) w[i] = load_word(t, piece, wb + (TYPE == TYPE_Q4_K ? 4u : 12u) + 8u * pair + i);
  }
  const vec2 dm = unpackHalf2x16(hd[0]);
  const uint s[3] = uint[3](hd[1], hd[2], hd[3]);
  [[unroll]] for (uint h = 0; h < 2; ++h) {
    const uvec2 sm = kquant_scale_min(s, 2u * pair + h);
    ab[2 * h] = ab[2 * h + 1] = vec2(dm.x * float(sm.x), -(dm.y * float(sm.y)));
  }
#if TYPE == TYPE_Q5_K
  uint hw[8];  // the high bits: 32 bytes after the header
  if (W_VEC4) {
    const uvec4 a = load_word4(t, piece, (wb >> 2) + 1u), b = load_word4(t, piece, (wb >> 2) + 2u);
    hw[0] = a.x, hw[1] = a.y, hw[2] = a.z, hw[3] = a.w, hw[4] = b.x, hw[5] = b.y, hw[6] = b.z, hw[7] = b.w;
  } else {
    [[unroll]] for (uint i = 0; i < 8; ++i) hw[i] = load_word(t, piece, wb + 4u + i);
  }
#endif
  [[unroll]] for (uint l = 0; l < 32; ++l) {
    const uint byte = byte_in(w, l);
    uint lo = byte & 15u, hi = byte >> 4;
#if TYPE == TYPE_Q5_K
    const uint hb = byte_in(hw, l);
    lo += ((hb >> (2u * pair)) & 1u) * 16u;
    hi += ((hb >> (2u * pair + 1u)) & 1u) * 16u;
#endif
    q[l] = float(lo);
    q[32 + l] = float(hi);
  }
}
#elif TYPE == TYPE_Q6_K
#define HAS_UNIT 1
#define UNIT 64  // elements 128h + 64s .. + 63 of a block: k = 2s and 2s + 1
LOAD_WORDS(8)
LOAD_WORDS(1)
void unit_q(uint t, uint piece, uint row_byte, uint u, out float q[UNIT], out vec2 ab[UNIT / 16]) {
  const uint bb = row_byte + (u >> 2) * 210u, h = (u >> 1) & 1u, sh = u & 1u;  // k = 2 sh + {0, 1}
  const float d = half_to_float(load_u16(t, piece, bb + 208u));
  uint ql0[8], ql1[8], qh[8];
  load_words8(t, piece, bb + 64u * h, ql0);         // k = 2 sh: ql bytes 64h + l
  load_words8(t, piece, bb + 64u * h + 32u, ql1);   // k = 2 sh + 1: ql bytes 64h + 32 + l
  load_words8(t, piece, bb + 128u + 32u * h, qh);
  uint sw[1];  // the 4 int8 scales of this unit: bytes 192 + 8h + 4sh .., one per 16 elements
  load_words1(t, piece, bb + 192u + 8u * h + 4u * sh, sw);
  [[unroll]] for (uint g = 0; g < 4; ++g)  // 16 elements each: k = 2 sh + g / 2, l = 16 (g & 1) ..
    ab[g] = vec2(d * float(bitfieldExtract(int(sw[0]), int(8u * g), 8)), 0.0);  // (d * scale) * q, as ggml
  const uint qs = sh * 4u;
  [[unroll]] for (uint l = 0; l < 32; ++l) {
    const uint hb = byte_in(qh, l);
    const uint k0 = 2u * sh;
    q[l] = float(int(((byte_in(ql0, l) >> qs) & 15u) | (((hb >> (2u * k0)) & 3u) << 4)) - 32);
    q[32 + l] = float(int(((byte_in(ql1, l) >> qs) & 15u) | (((hb >> (2u * k0 + 2u)) & 3u) << 4)) - 32);
  }
}
#elif TYPE == TYPE_F32 || TYPE == TYPE_F16 || TYPE == TYPE_BF16
// Plain float rows: a unit of 32 elements, read as uvec4 words. Only when W_VEC4 (every row
// 16-byte aligned: F16/BF16 rows a multiple of 8 elements, F32 of 4) and only for the whole
// units of a row: the includer runs dequant8 on unaligned rows and on a row's tail (UNIT_TAIL).
#define HAS_UNIT 1
#define UNIT 32
#define UNIT_TAIL 1   // rows need not be whole units
#define UNIT_PLAIN 1  // q are the values themselves: no affine pair, no sums of x
void unit_q(uint t, uint piece, uint row_byte, uint u, out float q[UNIT], out vec2 ab[UNIT / 16]) {
  const uint g0 = (row_byte >> 4) + u * (UNIT * ELEM_BYTES / 16u);  // row_byte % 16 == 0 (W_VEC4)
#if TYPE == TYPE_F32
  [[unroll]] for (uint i = 0; i < 8; ++i) {
    const uvec4 v = load_word4(t, piece, g0 + i);
    q[4 * i] = uintBitsToFloat(v.x), q[4 * i + 1] = uintBitsToFloat(v.y);
    q[4 * i + 2] = uintBitsToFloat(v.z), q[4 * i + 3] = uintBitsToFloat(v.w);
  }
#else
  [[unroll]] for (uint i = 0; i < 4; ++i) {
    const uvec4 v = load_word4(t, piece, g0 + i);
    const uint w[4] = uint[4](v.x, v.y, v.z, v.w);
    [[unroll]] for (uint j = 0; j < 4; ++j) {
#if TYPE == TYPE_F16
      const vec2 f = unpackHalf2x16(w[j]);
      q[8 * i + 2 * j] = f.x, q[8 * i + 2 * j + 1] = f.y;
#else
      q[8 * i + 2 * j] = uintBitsToFloat(w[j] << 16), q[8 * i + 2 * j + 1] = uintBitsToFloat(w[j] & 0xFFFF0000u);
#endif
    }
  }
#endif
  ab[0] = ab[1] = vec2(1.0, 0.0);
}
#endif
#include "dequant_unit_ext.glsl"  // the types of issue 11

#ifdef HAS_UNIT
#ifndef UNIT_PLAIN
#define UNIT_PLAIN 0
#endif
#ifndef UNIT_TAIL
#define UNIT_TAIL 0
#endif
// One unit's contribution to a dot product: levels q with their affine pairs against x.
float unit_dot(float q[UNIT], vec2 ab[UNIT / 16], float xv[UNIT], float sx[UNIT / 16]) {
  float s = 0.0;
  [[unroll]] for (uint g = 0; g < UNIT / 16; ++g) {
    float d = 0.0;
    [[unroll]] for (uint i = 0; i < 16; ++i) d += q[16 * g + i] * xv[16 * g + i];
#if UNIT_PLAIN
    s += d;
#else
    s += ab[g].x * d + ab[g].y * sx[g];
#endif
  }
  return s;
}
// Sums of x per 16 elements, for the affine offsets.
void unit_sums(float xv[UNIT], out float sx[UNIT / 16]) {
#if UNIT_PLAIN
  [[unroll]] for (uint g = 0; g < UNIT / 16; ++g) sx[g] = 0.0;  // unused by unit_dot
#else
  [[unroll]] for (uint g = 0; g < UNIT / 16; ++g) {
    float s = 0.0;
    [[unroll]] for (uint i = 0; i < 16; ++i) s += xv[16 * g + i];
    sx[g] = s;
  }
#endif
}
// Whole units of a row of `cols` taken by the unit path; dequant8 does chunks from
// unit_chunks(cols) on (none for block types: their rows are whole units).
uint unit_count(uint cols) { return (UNIT_TAIL == 0 || W_VEC4) ? cols / UNIT : 0u; }
uint unit_chunks(uint cols) { return unit_count(cols) * (UNIT / 8u); }
#endif

// The first 8-column chunk left to dequant8: past the unit path's whole units, or 0 without one.
uint generic_chunk0(uint cols) {
#ifdef HAS_UNIT
  return unit_chunks(cols);
#else
  return 0u;
#endif
}
