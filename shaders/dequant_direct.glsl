// Direct dot products for the matrix-vector kernels (matmul.comp.glsl GEMM=0 and the MoE decode
// pair, moe_matvec.comp.glsl), for the types of the reference models (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K). A lane takes a unit of DUNIT
// elements of RPS rows, keeps each row's raw words (at most 16 uints) and multiplies them with x
// 4 elements at a time as it loads x: no per-element arrays (dequant_unit.glsl's unit_q fills 32-64
// floats per row, which llvmpipe keeps in memory), quantized levels unpacked 4 at a time from
// whole words, and a block's scale and offset applied once per 16-32 elements, the offset through
// sums of x that the rows share. Include after dequant_unit.glsl and lanes.glsl; the includer
// defines vec4 unit_x4(uint t, uint i): x elements 4i .. 4i + 3 of input t (a token, or whatever
// the includer passes to direct_dot). direct_load's t is the weight tensor (moe_weights.glsl).
// Types without a direct form keep the unit path (dequant_unit.glsl) or dequant8; TAIL_LOOP and
// TAIL_CHUNK0 (at the end) say what dequant8 has left to do after either.

// The 4 bytes of w as floats (unsigned, through a signed conversion: x86 has no unsigned one).
vec4 bytes4(uint w) { return vec4(ivec4(uvec4(w, w >> 8, w >> 16, w >> 24) & 0xFFu)); }
vec4 sbytes4(uint w) { return vec4(ivec4(int(w) << 24, int(w) << 16, int(w) << 8, int(w)) >> 24); }
float hsum(vec4 v) { return (v.x + v.y) + (v.z + v.w); }

#if TYPE == TYPE_F32 || TYPE == TYPE_F16 || TYPE == TYPE_BF16
// One uvec4 per row and step: lanes read consecutive 16-byte groups (the plain shader's order).
// Only rows that are 16-byte aligned (W_VEC4: F32 rows a multiple of 4 elements, F16/BF16 of 8),
// which are then wholly direct; other rows go to dequant8.
#define HAS_DIRECT 1
#define DUNIT (16u / ELEM_BYTES)
struct DirectW { uvec4 v; };
void direct_load(uint t, uint piece, uint row_byte, uint u, out DirectW w) { w.v = load_word4(t, piece, (row_byte >> 4) + u); }
vec4 half4(uint a, uint b) {
#if TYPE == TYPE_F16
  return vec4(unpackHalf2x16(a), unpackHalf2x16(b));
#else
  return uintBitsToFloat(uvec4(a << 16, a & 0xFFFF0000u, b << 16, b & 0xFFFF0000u));
#endif
}
void direct_dot(DirectW w[RPS], uint t, uint u, out float s[RPS]) {
#if TYPE == TYPE_F32
  const vec4 xv = unit_x4(t, u);
  [[unroll]] for (uint r = 0; r < RPS; ++r) s[r] = dot(uintBitsToFloat(w[r].v), xv);
#else
  const vec4 xa = unit_x4(t, 2u * u), xb = unit_x4(t, 2u * u + 1u);
  [[unroll]] for (uint r = 0; r < RPS; ++r) s[r] = dot(half4(w[r].v.x, w[r].v.y), xa) + dot(half4(w[r].v.z, w[r].v.w), xb);
#endif
}
uint direct_count(uint cols) { return W_VEC4 ? cols / DUNIT : 0u; }
uint direct_chunk0(uint cols) { return W_VEC4 ? (cols + 7u) / 8u : 0u; }  // dequant8 does the rest

#elif TYPE == TYPE_Q8_0 || TYPE == TYPE_Q4_0
// One block: Q8_0 32 int8 levels (8 words), Q4_0 16 bytes of nibbles (4 words; element j in the
// low nibble of byte j, j + 16 in the high one, y = d (q - 8)).
#define HAS_DIRECT 1
#define DUNIT 32u
#define DWORDS (TYPE == TYPE_Q8_0 ? 8 : 4)
struct DirectW { float d; uint q[DWORDS]; };
void direct_load(uint t, uint piece, uint row_byte, uint u, out DirectW w) {
  const uint bb = row_byte + u * (TYPE == TYPE_Q8_0 ? 34u : 18u);
  w.d = half_to_float(load_u16(t, piece, bb));
#if TYPE == TYPE_Q8_0
  load_words8(t, piece, bb + 2u, w.q);
#else
  load_words4(t, piece, bb + 2u, w.q);
#endif
}
void direct_dot(DirectW w[RPS], uint t, uint u, out float s[RPS]) {
  float a[RPS];
  [[unroll]] for (uint r = 0; r < RPS; ++r) a[r] = 0.0;
#if TYPE == TYPE_Q8_0
  [[unroll]] for (uint j = 0; j < 8; ++j) {
    const vec4 xv = unit_x4(t, 8u * u + j);
    [[unroll]] for (uint r = 0; r < RPS; ++r) a[r] += dot(sbytes4(w[r].q[j]), xv);
  }
  [[unroll]] for (uint r = 0; r < RPS; ++r) s[r] = w[r].d * a[r];
#else
  vec4 sx = vec4(0.0);
  [[unroll]] for (uint j = 0; j < 4; ++j) {
    const vec4 xl = unit_x4(t, 8u * u + j), xh = unit_x4(t, 8u * u + 4u + j);
    sx += xl + xh;
    [[unroll]] for (uint r = 0; r < RPS; ++r)
      a[r] += dot(bytes4(w[r].q[j] & 0x0F0F0F0Fu), xl) + dot(bytes4((w[r].q[j] >> 4) & 0x0F0F0F0Fu), xh);
  }
  [[unroll]] for (uint r = 0; r < RPS; ++r) s[r] = w[r].d * (a[r] - 8.0 * hsum(sx));
#endif
}
uint direct_count(uint cols) { return cols / DUNIT; }
uint direct_chunk0(uint cols) { return (cols + 7u) / 8u; }  // block rows are wholly direct

#elif TYPE == TYPE_Q4_K || TYPE == TYPE_Q5_K
// dequant_unit.glsl's unit: sub-blocks 2p and 2p + 1 (p = u % 4) of a 256-block, the low and the
// high nibbles of the same 32 bytes; Q5_K's 5th bits come from the block's 32 qh bytes, bits 2p
// and 2p + 1. y = d sc q - dmin m per sub-block: sc.xy = d sc, sc.zw = dmin m (low, high).
#define HAS_DIRECT 1
#define DUNIT 64u
struct DirectW {
  vec4 sc;
  uint q[8];
#if TYPE == TYPE_Q5_K
  uint h[8];  // the qh words shifted right by 2p: the low sub-block's bits at bit 0 of each byte
#endif
};
void direct_load(uint t, uint piece, uint row_byte, uint u, out DirectW w) {
  const uint bb = row_byte + (u >> 2) * (TYPE == TYPE_Q4_K ? 144u : 176u), pair = u & 3u;
  const uint wb = bb >> 2;  // K-quant rows are 4-byte aligned
  uint hd[4];
  if (W_VEC4) {
    const uvec4 h4 = load_word4(t, piece, wb >> 2);
    const uint qw = (wb >> 2) + (TYPE == TYPE_Q4_K ? 1u : 3u) + 2u * pair;
    const uvec4 q0 = load_word4(t, piece, qw), q1 = load_word4(t, piece, qw + 1u);
    hd[0] = h4.x, hd[1] = h4.y, hd[2] = h4.z, hd[3] = h4.w;
    w.q[0] = q0.x, w.q[1] = q0.y, w.q[2] = q0.z, w.q[3] = q0.w, w.q[4] = q1.x, w.q[5] = q1.y, w.q[6] = q1.z, w.q[7] = q1.w;
  } else {
    [[unroll]] for (uint i = 0; i < 4; ++i) hd[i] = load_word(t, piece, wb + i);
    [[unroll]] for (uint i = 0; i < 8; ++i) w.q[i] = load_word(t, piece, wb + (TYPE == TYPE_Q4_K ? 4u : 12u) + 8u * pair + i);
  }
#if TYPE == TYPE_Q5_K
  if (W_VEC4) {
    const uvec4 a = load_word4(t, piece, (wb >> 2) + 1u), b = load_word4(t, piece, (wb >> 2) + 2u);
    w.h[0] = a.x, w.h[1] = a.y, w.h[2] = a.z, w.h[3] = a.w, w.h[4] = b.x, w.h[5] = b.y, w.h[6] = b.z, w.h[7] = b.w;
  } else {
    [[unroll]] for (uint i = 0; i < 8; ++i) w.h[i] = load_word(t, piece, wb + 4u + i);
  }
  [[unroll]] for (uint i = 0; i < 8; ++i) w.h[i] >>= 2u * pair;
#endif
  const vec2 dm = unpackHalf2x16(hd[0]);
  const uint s[3] = uint[3](hd[1], hd[2], hd[3]);
  const uvec2 lo = kquant_scale_min(s, 2u * pair), hi = kquant_scale_min(s, 2u * pair + 1u);
  w.sc = vec4(dm.x * float(lo.x), dm.x * float(hi.x), dm.y * float(lo.y), dm.y * float(hi.y));
}
void direct_dot(DirectW w[RPS], uint t, uint u, out float s[RPS]) {
  float al[RPS], ah[RPS];
  [[unroll]] for (uint r = 0; r < RPS; ++r) al[r] = ah[r] = 0.0;
  vec4 sl = vec4(0.0), sh = vec4(0.0);
  [[unroll]] for (uint j = 0; j < 8; ++j) {
    const vec4 xl = unit_x4(t, 16u * u + j), xh = unit_x4(t, 16u * u + 8u + j);
    sl += xl, sh += xh;
    [[unroll]] for (uint r = 0; r < RPS; ++r) {
      uint lo = w[r].q[j] & 0x0F0F0F0Fu, hi = (w[r].q[j] >> 4) & 0x0F0F0F0Fu;
#if TYPE == TYPE_Q5_K
      lo |= (w[r].h[j] & 0x01010101u) << 4;
      hi |= (w[r].h[j] & 0x02020202u) << 3;
#endif
      al[r] += dot(bytes4(lo), xl);
      ah[r] += dot(bytes4(hi), xh);
    }
  }
  const float l = hsum(sl), h = hsum(sh);
  [[unroll]] for (uint r = 0; r < RPS; ++r)
    s[r] = (w[r].sc.x * al[r] + w[r].sc.y * ah[r]) - (w[r].sc.z * l + w[r].sc.w * h);
}
uint direct_count(uint cols) { return cols / DUNIT; }
uint direct_chunk0(uint cols) { return (cols + 7u) / 8u; }

#elif TYPE == TYPE_Q6_K
// dequant_unit.glsl's unit: elements 128h + 64sh .. + 63 of a 210-byte block (h = u / 2 % 2,
// sh = u % 2), the 6-bit levels of 32-groups k = 2sh and 2sh + 1 assembled 4 at a time into bytes
// (q0, q1); one int8 scale per 16 elements; y = d scale (q - 32).
#define HAS_DIRECT 1
#define DUNIT 64u
struct DirectW { vec4 sc; uint q0[8], q1[8]; };
void direct_load(uint t, uint piece, uint row_byte, uint u, out DirectW w) {
  const uint bb = row_byte + (u >> 2) * 210u, h = (u >> 1) & 1u, sh = u & 1u;
  const float d = half_to_float(load_u16(t, piece, bb + 208u));
  uint ql0[8], ql1[8], qh[8], sw[1];
  load_words8(t, piece, bb + 64u * h, ql0);
  load_words8(t, piece, bb + 64u * h + 32u, ql1);
  load_words8(t, piece, bb + 128u + 32u * h, qh);
  load_words1(t, piece, bb + 192u + 8u * h + 4u * sh, sw);
  const uint qs = 4u * sh, hs = 4u * sh;  // nibble of ql; bits 2k of qh for k = 2sh: 4sh
  [[unroll]] for (uint j = 0; j < 8; ++j) {
    w.q0[j] = ((ql0[j] >> qs) & 0x0F0F0F0Fu) | (((qh[j] >> hs) & 0x03030303u) << 4);
    w.q1[j] = ((ql1[j] >> qs) & 0x0F0F0F0Fu) | (((qh[j] >> (hs + 2u)) & 0x03030303u) << 4);
  }
  w.sc = d * vec4(sbytes4(sw[0]));
}
void direct_dot(DirectW w[RPS], uint t, uint u, out float s[RPS]) {
  vec4 a[RPS];  // the dot products of the unit's 4 groups of 16
  [[unroll]] for (uint r = 0; r < RPS; ++r) a[r] = vec4(0.0);
  vec4 sx = vec4(0.0);
  [[unroll]] for (uint j = 0; j < 8; ++j) {
    const vec4 x0 = unit_x4(t, 16u * u + j), x1 = unit_x4(t, 16u * u + 8u + j);
    const float s0 = hsum(x0), s1 = hsum(x1);
    sx += j < 4 ? vec4(s0, 0.0, s1, 0.0) : vec4(0.0, s0, 0.0, s1);
    [[unroll]] for (uint r = 0; r < RPS; ++r) {
      const float d0 = dot(bytes4(w[r].q0[j]), x0), d1 = dot(bytes4(w[r].q1[j]), x1);
      a[r] += j < 4 ? vec4(d0, 0.0, d1, 0.0) : vec4(0.0, d0, 0.0, d1);
    }
  }
  [[unroll]] for (uint r = 0; r < RPS; ++r) s[r] = dot(w[r].sc, a[r] - 32.0 * sx);
}
uint direct_count(uint cols) { return cols / DUNIT; }
uint direct_chunk0(uint cols) { return (cols + 7u) / 8u; }
#endif

// What dequant8 is left: TAIL_LOOP whether a row can have any of it, from chunk TAIL_CHUNK0(cols)
// on (plain float rows that are unaligned or end in part of a unit; the types of neither path).
#ifdef HAS_DIRECT
#define TAIL_CHUNK0(cols) direct_chunk0(cols)
#define TAIL_LOOP (TYPE == TYPE_F32 || TYPE == TYPE_F16 || TYPE == TYPE_BF16)
#elif defined(HAS_UNIT)
#define TAIL_CHUNK0(cols) generic_chunk0(cols)
#define TAIL_LOOP UNIT_TAIL
#else
#define TAIL_CHUNK0(cols) 0u
#define TAIL_LOOP 1
#endif
