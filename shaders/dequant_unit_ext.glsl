// Unit forms (dequant_unit.glsl's contract: unit_q gives a unit's levels q and one affine pair
// ab per 16 elements, y = ab.x * q + ab.y) of the types of issue 11. Included by
// dequant_unit.glsl after its own types; dequant_ext.glsl documents the block layouts.
// Every unit is 32 elements: one block of the 32-element types, one 32-element group ib = u % 8
// of a 256-element block (Q2_K/Q3_K: elements 128h + 32k + l, h = (u / 4) % 2, k = u % 4).
// Signs and IQ1's per-8 deltas are folded into q; a scale per 16 elements goes to ab.
#if TYPE == TYPE_Q4_1 || TYPE == TYPE_Q5_0 || TYPE == TYPE_Q5_1 || TYPE == TYPE_IQ4_NL || TYPE == TYPE_MXFP4 || \
    TYPE == TYPE_IQ4_XS || TYPE == TYPE_Q2_K || TYPE == TYPE_Q3_K || TYPE == TYPE_IQ2_XXS || TYPE == TYPE_IQ2_XS || \
    TYPE == TYPE_IQ2_S || TYPE == TYPE_IQ3_XXS || TYPE == TYPE_IQ3_S || TYPE == TYPE_IQ1_S || TYPE == TYPE_IQ1_M
#define HAS_UNIT 1
#define UNIT 32

// Byte i (< 4N) of the words w.
#define WORD_BYTE(w, i) (((w)[(i) >> 2] >> (((i) & 3u) * 8u)) & 0xFFu)

// Elements 0..15 from the low nibbles of 16 bytes, 16..31 from the high ones (ggml's order).
void nibble_levels(uint w[4], out uint n[UNIT]) {
  [[unroll]] for (uint i = 0; i < 16; ++i) {
    const uint byte = WORD_BYTE(w, i);
    n[i] = byte & 15u;
    n[16 + i] = byte >> 4;
  }
}

// 8 grid bytes g (element i in byte i) with their sign bits: q[at + i] = +-g_i.
void put_signed8(uvec2 g, uint signs, uint at, inout float q[UNIT]) {
  [[unroll]] for (uint i = 0; i < 8; ++i) q[at + i] = float(byte_of(g, i)) * iq_sign(signs, i);
}
#endif

#if TYPE == TYPE_Q4_1 || TYPE == TYPE_Q5_1
#if TYPE == TYPE_Q4_1
#define NW 5
LOAD_WORDS(5)
#define LOAD_BLOCK load_words5
#else
#define NW 6
LOAD_WORDS(6)
#define LOAD_BLOCK load_words6
#endif
void unit_q(uint t, uint piece, uint row_byte, uint u, out float q[UNIT], out vec2 ab[UNIT / 16]) {
  // Q4_1: 20 bytes d, m, qs[16]; Q5_1: 24 bytes d, m, qh (bit j: element j's 5th bit), qs[16].
  // y = d * q + m.
  uint w[NW];
  LOAD_BLOCK(t, piece, row_byte + u * (4u * NW), w);
  const uint qs[4] = uint[4](w[NW - 4], w[NW - 3], w[NW - 2], w[NW - 1]);
  uint n[UNIT];
  nibble_levels(qs, n);
  [[unroll]] for (uint i = 0; i < UNIT; ++i) q[i] = float(TYPE == TYPE_Q5_1 ? n[i] | (((w[1] >> i) & 1u) << 4) : n[i]);
  ab[0] = ab[1] = unpackHalf2x16(w[0]);
}
#elif TYPE == TYPE_Q5_0 || TYPE == TYPE_IQ4_NL
#if TYPE == TYPE_Q5_0
#define NW 5
LOAD_WORDS(5)
#define LOAD_BLOCK load_words5
#else
#define NW 4
LOAD_WORDS(4)
#define LOAD_BLOCK load_words4
#endif
void unit_q(uint t, uint piece, uint row_byte, uint u, out float q[UNIT], out vec2 ab[UNIT / 16]) {
  // Q5_0: 22 bytes d, qh, qs[16], y = d * (q - 16); IQ4_NL: 18 bytes d, qs[16], y = d * table[q].
  const uint bb = row_byte + u * (TYPE == TYPE_Q5_0 ? 22u : 18u);
  const float d = half_to_float(load_u16(t, piece, bb));
  uint w[NW];
  LOAD_BLOCK(t, piece, bb + 2u, w);
  const uint qs[4] = uint[4](w[NW - 4], w[NW - 3], w[NW - 2], w[NW - 1]);
  uint n[UNIT];
  nibble_levels(qs, n);
#if TYPE == TYPE_Q5_0
  [[unroll]] for (uint i = 0; i < UNIT; ++i) q[i] = float(int(n[i] | (((w[0] >> i) & 1u) << 4)) - 16);
#else
  [[unroll]] for (uint i = 0; i < UNIT; ++i) q[i] = iq4nl_value(n[i]);
#endif
  ab[0] = ab[1] = vec2(d, 0.0);
}
#elif TYPE == TYPE_MXFP4
// 4N bytes from any byte b (17-byte blocks start at any byte); reads only words holding them.
void load_bytes4(uint t, uint piece, uint b, out uint w[4]) {
  const uint w0 = b >> 2, s = (b & 3u) * 8u, last = 3u + min(s, 1u);
  uint prev = load_word(t, piece, w0);
  [[unroll]] for (uint i = 0; i < 4; ++i) {
    const uint next = load_word(t, piece, w0 + min(i + 1u, last));
    w[i] = (prev >> s) | ((next << (31u - s)) << 1u);
    prev = next;
  }
}
void unit_q(uint t, uint piece, uint row_byte, uint u, out float q[UNIT], out vec2 ab[UNIT / 16]) {
  // 17 bytes: e8m0 exponent, qs[16]; y = table[q] * 2^(e - 128) (dequant_ext.glsl's d).
  const uint bb = row_byte + u * 17u, e = load_u8(t, piece, bb);
  uint w[4];
  load_bytes4(t, piece, bb + 1u, w);
  uint n[UNIT];
  nibble_levels(w, n);
  [[unroll]] for (uint i = 0; i < UNIT; ++i) q[i] = mxfp4_value(n[i]);
  ab[0] = ab[1] = vec2(uintBitsToFloat(e < 2u ? 0x00200000u << e : (e - 1u) << 23), 0.0);
}
#elif TYPE == TYPE_IQ4_XS
LOAD_WORDS(2)
LOAD_WORDS(4)
void unit_q(uint t, uint piece, uint row_byte, uint u, out float q[UNIT], out vec2 ab[UNIT / 16]) {
  // 136 bytes: d, scales_h (2 bits per group), scales_l[4] (a nibble per group), qs[16] per group.
  const uint bb = row_byte + (u >> 3) * 136u, ib = u & 7u;
  uint hd[2], w[4];
  load_words2(t, piece, bb, hd);
  load_words4(t, piece, bb + 8u + 16u * ib, w);
  const uint ls = ((hd[1] >> (4u * ib)) & 15u) | (((hd[0] >> (16u + 2u * ib)) & 3u) << 4);
  uint n[UNIT];
  nibble_levels(w, n);
  [[unroll]] for (uint i = 0; i < UNIT; ++i) q[i] = iq4nl_value(n[i]);
  ab[0] = ab[1] = vec2(unpackHalf2x16(hd[0]).x * float(int(ls) - 32), 0.0);
}
#elif TYPE == TYPE_Q2_K || TYPE == TYPE_Q3_K
LOAD_WORDS(8)
#if TYPE == TYPE_Q3_K
LOAD_WORDS(3)
#endif
void unit_q(uint t, uint piece, uint row_byte, uint u, out float q[UNIT], out vec2 ab[UNIT / 16]) {
  // 2 bits at bit 2k of qs[32h + l]; the unit's two sub-blocks of 16 are j0 and j0 + 1.
  const uint h = (u >> 2) & 1u, k = u & 3u, j0 = 8u * h + 2u * k;
  uint w[8];
#if TYPE == TYPE_Q2_K
  // 84 bytes: scales[16] (scale | min << 4), qs[64], d, dmin: y = d * sc * q - dmin * m.
  const uint bb = row_byte + (u >> 3) * 84u;
  load_words8(t, piece, bb + 16u + 32u * h, w);
  const uint sc = load_u16(t, piece, bb + j0);
  const vec2 dm = unpackHalf2x16(load_u32_at(t, piece, bb + 80u));
  [[unroll]] for (uint g = 0; g < 2; ++g) {
    const uint s = (sc >> (8u * g)) & 0xFFu;
    ab[g] = vec2(dm.x * float(s & 15u), -(dm.y * float(s >> 4)));
  }
  [[unroll]] for (uint l = 0; l < UNIT; ++l) q[l] = float((byte_in(w, l) >> (2u * k)) & 3u);
#else
  // 110 bytes: hmask[32], qs[64], scales[12] (6-bit, + 32), d. Element 128h + 32k + l drops by
  // 4 when bit 4h + k of hmask[l] is clear: y = d * (sc - 32) * q.
  const uint bb = row_byte + (u >> 3) * 110u;
  uint hm[8], s[3];
  load_words8(t, piece, bb + 32u + 32u * h, w);
  load_words8(t, piece, bb, hm);
  load_words3(t, piece, bb + 96u, s);
  const float d = half_to_float(load_u16(t, piece, bb + 108u));
  [[unroll]] for (uint g = 0; g < 2; ++g) {
    const uint j = j0 + g;
    const uint lo = j < 8u ? WORD_BYTE(s, j) & 15u : WORD_BYTE(s, j - 8u) >> 4;
    const uint hi = (WORD_BYTE(s, 8u + (j & 3u)) >> (2u * (j >> 2))) & 3u;
    ab[g] = vec2(d * float(int(lo | (hi << 4)) - 32), 0.0);
  }
  const uint hbit = 4u * h + k;
  [[unroll]] for (uint l = 0; l < UNIT; ++l)
    q[l] = float(int((byte_in(w, l) >> (2u * k)) & 3u) - (((byte_in(hm, l) >> hbit) & 1u) != 0u ? 0 : 4));
#endif
}
#elif TYPE == TYPE_IQ2_XXS || TYPE == TYPE_IQ2_XS || TYPE == TYPE_IQ2_S
LOAD_WORDS(2)
void unit_q(uint t, uint piece, uint row_byte, uint u, out float q[UNIT], out vec2 ab[UNIT / 16]) {
  // Four 8-element grid entries l with 8 sign bits each: y = db * grid * sign.
  const uint ib = u & 7u;
#if TYPE == TYPE_IQ2_XXS
  // 66 bytes: d, per group 4 grid indices and a word of 4 x 7 sign bits + scale << 28.
  const uint bb = row_byte + (u >> 3) * 66u;
  uint a[2];
  load_words2(t, piece, bb + 2u + 8u * ib, a);
  [[unroll]] for (uint l = 0; l < 4; ++l) {
    const uvec2 g = iq_expand2(IQ_ENTRY(iq_kgrid_IQ2XXS, (a[0] >> (8u * l)) & 255u), iq_levels_IQ2XXS);
    put_signed8(g, iq_sign_byte((a[1] >> (7u * l)) & 127u), 8u * l, q);
  }
  const float db = half_to_float(load_u16(t, piece, bb)) * (0.5 + float(a[1] >> 28)) * 0.25;
  ab[0] = ab[1] = vec2(db, 0.0);
#else
#if TYPE == TYPE_IQ2_XS
  // 74 bytes: d, u16 qs[32] (9-bit index | 7 sign bits << 9), scales[8] (a nibble per 16).
  const uint bb = row_byte + (u >> 3) * 74u, sc = load_u8(t, piece, bb + 66u + ib);
  uint a[2];
  load_words2(t, piece, bb + 2u + 8u * ib, a);
  [[unroll]] for (uint l = 0; l < 4; ++l) {
    const uint qv = (a[l >> 1] >> (16u * (l & 1u))) & 0xFFFFu;
    put_signed8(iq_expand2(IQ_ENTRY(iq_kgrid_IQ2XS, qv & 511u), iq_levels_IQ2XS), iq_sign_byte(qv >> 9), 8u * l, q);
  }
#else
  // 82 bytes: d, qs[32] (low index bits), signs[32], qh[8] (2 index bits per entry), scales[8].
  const uint bb = row_byte + (u >> 3) * 82u, sc = load_u8(t, piece, bb + 74u + ib);
  const uint qs = load_u32_at(t, piece, bb + 2u + 4u * ib), signs = load_u32_at(t, piece, bb + 34u + 4u * ib);
  const uint qh = load_u8(t, piece, bb + 66u + ib);
  [[unroll]] for (uint l = 0; l < 4; ++l) {
    const uint gi = ((qs >> (8u * l)) & 255u) | ((qh << (8u - 2u * l)) & 0x300u);
    put_signed8(iq_expand2(IQ_ENTRY(iq_kgrid_IQ2S, gi), iq_levels_IQ2S), (signs >> (8u * l)) & 255u, 8u * l, q);
  }
#endif
  const float d = half_to_float(load_u16(t, piece, bb));
  ab[0] = vec2(d * (0.5 + float(sc & 15u)) * 0.25, 0.0);
  ab[1] = vec2(d * (0.5 + float(sc >> 4)) * 0.25, 0.0);
#endif
}
#elif TYPE == TYPE_IQ3_XXS || TYPE == TYPE_IQ3_S
LOAD_WORDS(2)
void unit_q(uint t, uint piece, uint row_byte, uint u, out float q[UNIT], out vec2 ab[UNIT / 16]) {
  // Entry pair l: two 4-element grid entries under one sign byte; y = db * grid * sign.
  const uint ib = u & 7u;
  uint a[2];  // the group's 8 index bytes
#if TYPE == TYPE_IQ3_XXS
  // 98 bytes: d, qs[64], per group a word of 4 x 7 sign bits + scale << 28.
  const uint bb = row_byte + (u >> 3) * 98u, aux = load_u32_at(t, piece, bb + 66u + 4u * ib);
  load_words2(t, piece, bb + 2u + 8u * ib, a);
  [[unroll]] for (uint l = 0; l < 4; ++l) {
    const uint q2 = (a[l >> 1] >> (16u * (l & 1u))) & 0xFFFFu;
    const uvec2 g = uvec2(iq_expand3(IQ_ENTRY(iq_kgrid_IQ3XXS, q2 & 255u), iq_levels_IQ3XXS),
                          iq_expand3(IQ_ENTRY(iq_kgrid_IQ3XXS, q2 >> 8), iq_levels_IQ3XXS));
    put_signed8(g, iq_sign_byte((aux >> (7u * l)) & 127u), 8u * l, q);
  }
  ab[0] = ab[1] = vec2(half_to_float(load_u16(t, piece, bb)) * (0.5 + float(aux >> 28)) * 0.5, 0.0);
#else
  // 110 bytes: d, qs[64], qh[8] (9th index bits), signs[32], scales[4] (a nibble per group).
  const uint bb = row_byte + (u >> 3) * 110u, qh = load_u8(t, piece, bb + 66u + ib);
  const uint signs = load_u32_at(t, piece, bb + 74u + 4u * ib);
  load_words2(t, piece, bb + 2u + 8u * ib, a);
  [[unroll]] for (uint l = 0; l < 4; ++l) {
    const uint q2 = (a[l >> 1] >> (16u * (l & 1u))) & 0xFFFFu;
    const uint i1 = (q2 & 255u) | ((qh << (8u - 2u * l)) & 256u), i2 = (q2 >> 8) | ((qh << (7u - 2u * l)) & 256u);
    const uvec2 g = uvec2(iq_expand3(IQ_ENTRY(iq_kgrid_IQ3S, i1), iq_levels_IQ3S),
                          iq_expand3(IQ_ENTRY(iq_kgrid_IQ3S, i2), iq_levels_IQ3S));
    put_signed8(g, (signs >> (8u * l)) & 255u, 8u * l, q);
  }
  const uint sc = (load_u8(t, piece, bb + 106u + ib / 2u) >> (4u * (ib & 1u))) & 15u;
  ab[0] = ab[1] = vec2(half_to_float(load_u16(t, piece, bb)) * float(1u + 2u * sc), 0.0);
#endif
}
#elif TYPE == TYPE_IQ1_S || TYPE == TYPE_IQ1_M
void unit_q(uint t, uint piece, uint row_byte, uint u, out float q[UNIT], out vec2 ab[UNIT / 16]) {
  // Four 8-element grid entries l of -1/0/+1: y = dl * (grid + delta).
  const uint ib = u & 7u;
  uint qs, gi[4];
  float delta[4];
#if TYPE == TYPE_IQ1_S
  // 50 bytes: d, qs[32], u16 qh[8]: 3 index bits per entry, scale << 12, delta sign << 15.
  const uint bb = row_byte + (u >> 3) * 50u, qh = load_u16(t, piece, bb + 34u + 2u * ib);
  qs = load_u32_at(t, piece, bb + 2u + 4u * ib);
  [[unroll]] for (uint l = 0; l < 4; ++l) {
    gi[l] = ((qs >> (8u * l)) & 255u) | (((qh >> (3u * l)) & 7u) << 8);
    delta[l] = 0.0;  // one delta for the group: in ab.y
  }
  const float dl = half_to_float(load_u16(t, piece, bb)) * float(2u * ((qh >> 12) & 7u) + 1u);
  ab[0] = ab[1] = vec2(dl, dl * ((qh & 0x8000u) != 0u ? -0.125 : 0.125));
#else
  // 56 bytes: qs[32], qh[16] (per entry 3 index bits + a delta sign), u16 scales[4] (3-bit
  // scales per 16 elements, the f16 d in their top nibbles).
  const uint bb = row_byte + (u >> 3) * 56u;
  const uint s01 = load_u32_at(t, piece, bb + 48u), s23 = load_u32_at(t, piece, bb + 52u);
  const float d = half_to_float(((s01 >> 12) & 0xFu) | ((s01 >> 24) & 0xF0u) | ((s23 >> 4) & 0xF00u) | ((s23 >> 16) & 0xF000u));
  const uint sw = ((ib < 4u ? s01 : s23) >> (16u * ((ib >> 1) & 1u))) & 0xFFFFu;
  const uint qh = load_u16(t, piece, bb + 32u + 2u * ib);
  qs = load_u32_at(t, piece, bb + 4u * ib);
  [[unroll]] for (uint l = 0; l < 4; ++l) {
    const uint qhb = (qh >> (4u * l)) & 15u;
    gi[l] = ((qs >> (8u * l)) & 255u) | ((qhb & 7u) << 8);
    delta[l] = (qhb & 8u) != 0u ? -0.125 : 0.125;
  }
  [[unroll]] for (uint g = 0; g < 2; ++g)
    ab[g] = vec2(d * float(2u * ((sw >> (6u * (ib & 1u) + 3u * g)) & 7u) + 1u), 0.0);
#endif
  [[unroll]] for (uint l = 0; l < 4; ++l) {
    const uvec2 g = iq_expand2(IQ_ENTRY(iq_kgrid_IQ1S, gi[l]), iq_levels_IQ1S);
    [[unroll]] for (uint i = 0; i < 8; ++i)
      q[8u * l + i] = float(bitfieldExtract(int(i < 4u ? g.x : g.y), int((i & 3u) * 8u), 8)) + delta[l];
  }
}
#endif
