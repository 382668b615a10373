// dequant8 branches of the types of issue 11 (Q4_1, Q5_0, Q5_1, MXFP4, IQ4_NL, IQ4_XS, Q2_K,
// Q3_K, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M), included inside dequant8's type
// chain (dequant.glsl), with the file-scope part in dequant_ext_decl.glsl. Same contract: the 8
// elements 8c .. 8c+7 of the row at byte row_byte, each in ggml's dequantize_row_* order.
// Byte offsets below are those of ggml-common.h's block_* structs (runtime/quant/quant_blocks.h).
#if TYPE == TYPE_Q4_1 || TYPE == TYPE_Q5_0 || TYPE == TYPE_Q5_1 || TYPE == TYPE_IQ4_NL || TYPE == TYPE_MXFP4
  // 32-element blocks; chunk c & 3 is elements 8 (c & 3) .. of the block: the low nibbles of
  // qs[0..15] are elements 0..15, the high nibbles 16..31.
#if TYPE == TYPE_Q4_1
  const uint bsize = 20u, qs_at = 4u;
#elif TYPE == TYPE_Q5_0
  const uint bsize = 22u, qs_at = 6u;
#elif TYPE == TYPE_Q5_1
  const uint bsize = 24u, qs_at = 8u;
#elif TYPE == TYPE_IQ4_NL
  const uint bsize = 18u, qs_at = 2u;
#else
  const uint bsize = 17u, qs_at = 1u;
#endif
  const uint bb = row_byte + (c >> 2) * bsize;
  const uvec2 q = load8(t, piece, bb + qs_at + 8u * (c & 1u));
  const uint shift = (c & 2u) * 2u;
#if TYPE == TYPE_MXFP4
  // e8m0 scale halved (ggml's GGML_E8M0_TO_FP32_HALF; e < 2 gives a subnormal).
  const uint e = load_u8(t, piece, bb);
  const float d = uintBitsToFloat(e < 2u ? 0x00200000u << e : (e - 1u) << 23);
  for (uint i = 0; i < 8; ++i) v[i] = mxfp4_value((byte_of(q, i) >> shift) & 15u) * d;
#elif TYPE == TYPE_IQ4_NL
  const float d = half_to_float(load_u16(t, piece, bb));
  for (uint i = 0; i < 8; ++i) v[i] = d * iq4nl_value((byte_of(q, i) >> shift) & 15u);
#else
  const float d = half_to_float(load_u16(t, piece, bb));
#if TYPE == TYPE_Q4_1 || TYPE == TYPE_Q5_1
  const float m = half_to_float(load_u16(t, piece, bb + 2u));
#endif
#if TYPE == TYPE_Q5_0 || TYPE == TYPE_Q5_1
  // Bit j of the 32-bit qh is element j's 5th bit.
  const uint qh = load_u32_at(t, piece, bb + qs_at - 4u) >> (8u * (c & 3u));
#endif
  for (uint i = 0; i < 8; ++i) {
    uint level = (byte_of(q, i) >> shift) & 15u;
#if TYPE == TYPE_Q5_0 || TYPE == TYPE_Q5_1
    level |= ((qh >> i) & 1u) << 4;
#endif
#if TYPE == TYPE_Q5_0
    v[i] = float(int(level) - 16) * d;
#else
    v[i] = float(level) * d + m;
#endif
  }
#endif
#elif TYPE == TYPE_IQ4_XS
  // 136-byte blocks: f16 d, u16 scales_h, scales_l[4], qs[128] (16 bytes per sub-block of 32).
  const uint bb = row_byte + (c >> 5) * 136u;
  const uint ib = (c >> 2) & 7u;
  const uint ls = ((load_u8(t, piece, bb + 4u + ib / 2u) >> (4u * (ib & 1u))) & 15u) |
                  (((load_u16(t, piece, bb + 2u) >> (2u * ib)) & 3u) << 4);
  const float dl = half_to_float(load_u16(t, piece, bb)) * float(int(ls) - 32);
  const uvec2 q = load8(t, piece, bb + 8u + 16u * ib + 8u * (c & 1u));
  const uint shift = (c & 2u) * 2u;
  for (uint i = 0; i < 8; ++i) v[i] = dl * iq4nl_value((byte_of(q, i) >> shift) & 15u);
#elif TYPE == TYPE_Q2_K || TYPE == TYPE_Q3_K
  // 16 sub-blocks of 16; element 128h + 32k + l has 2 bits at bit 2k of qs[32h + l] and belongs
  // to sub-block 8h + 2k + l / 16.
  const uint cb = c & 31u, h = cb >> 4, k = (cb >> 2) & 3u, l0 = (cb & 3u) * 8u;
  const uint j = 8u * h + 2u * k + l0 / 16u;
#if TYPE == TYPE_Q2_K
  // 84-byte blocks: scales[16] (scale | min << 4), qs[64], f16 d, f16 dmin.
  const uint bb = row_byte + (c >> 5) * 84u;
  const uint sc = load_u8(t, piece, bb + j);
  const float dl = half_to_float(load_u16(t, piece, bb + 80u)) * float(sc & 15u);
  const float ml = half_to_float(load_u16(t, piece, bb + 82u)) * float(sc >> 4);
  const uvec2 q = load8(t, piece, bb + 16u + 32u * h + l0);
  for (uint i = 0; i < 8; ++i) v[i] = dl * float((byte_of(q, i) >> (2u * k)) & 3u) - ml;
#else
  // 110-byte blocks: hmask[32], qs[64], scales[12] (6-bit, + 32), f16 d. The high bit of
  // element 128h + 32k + l is bit 4h + k of hmask[l]; when clear the level drops by 4.
  const uint bb = row_byte + (c >> 5) * 110u;
  const uint lo = j < 8u ? load_u8(t, piece, bb + 96u + j) & 15u : load_u8(t, piece, bb + 88u + j) >> 4;
  const uint hi = (load_u8(t, piece, bb + 104u + (j & 3u)) >> (2u * (j / 4u))) & 3u;
  const float dl = half_to_float(load_u16(t, piece, bb + 108u)) * float(int(lo | (hi << 4)) - 32);
  const uvec2 q = load8(t, piece, bb + 32u + 32u * h + l0);
  const uvec2 hm = load8(t, piece, bb + l0);
  const uint hbit = 4u * h + k;
  for (uint i = 0; i < 8; ++i) {
    const int level = int((byte_of(q, i) >> (2u * k)) & 3u) - (((byte_of(hm, i) >> hbit) & 1u) != 0u ? 0 : 4);
    v[i] = dl * float(level);
  }
#endif
#elif TYPE == TYPE_IQ2_XXS || TYPE == TYPE_IQ2_XS || TYPE == TYPE_IQ2_S
  // 256-element blocks of 8 groups of 32; chunk c is part l of group ib, one 8-element grid entry
  // times its signs: y = db * grid[j] * sign_j.
  const uint ib = (c >> 2) & 7u, l = c & 3u;
#if TYPE == TYPE_IQ2_XXS
  // 66 bytes: f16 d, then per group two uint32: 4 grid indices; 4 x 7 sign bits + scale << 28.
  const uint bb = row_byte + (c >> 5) * 66u;
  const uvec2 aux = load8(t, piece, bb + 2u + 8u * ib);
  const float db = half_to_float(load_u16(t, piece, bb)) * (0.5 + float(aux.y >> 28)) * 0.25;
  const uint gi = (aux.x >> (8u * l)) & 255u;
  const uint signs = iq_sign_byte((aux.y >> (7u * l)) & 127u);
  const uvec2 g = iq_expand2(IQ_ENTRY(iq_kgrid_IQ2XXS, gi), iq_levels_IQ2XXS);
#else
#if TYPE == TYPE_IQ2_XS
  // 74 bytes: f16 d, u16 qs[32] (9-bit index | 7 sign bits << 9), scales[8].
  const uint bb = row_byte + (c >> 5) * 74u;
  const uint qv = load_u16(t, piece, bb + 2u + 2u * (4u * ib + l));
  const uint gi = qv & 511u;
  const uint signs = iq_sign_byte(qv >> 9);
  const uvec2 g = iq_expand2(IQ_ENTRY(iq_kgrid_IQ2XS, gi), iq_levels_IQ2XS);
  const uint sc = load_u8(t, piece, bb + 66u + ib);
#else
  // 82 bytes: f16 d, qs[32] low index bits, 32 sign bytes, qh[8] (2 index bits per entry), scales[8].
  const uint bb = row_byte + (c >> 5) * 82u;
  const uint gi = load_u8(t, piece, bb + 2u + 4u * ib + l) | ((load_u8(t, piece, bb + 66u + ib) << (8u - 2u * l)) & 0x300u);
  const uint signs = load_u8(t, piece, bb + 34u + 4u * ib + l);
  const uvec2 g = iq_expand2(IQ_ENTRY(iq_kgrid_IQ2S, gi), iq_levels_IQ2S);
  const uint sc = load_u8(t, piece, bb + 74u + ib);
#endif
  const float db = half_to_float(load_u16(t, piece, bb)) * (0.5 + float((sc >> (4u * (l >> 1))) & 15u)) * 0.25;
#endif
  for (uint i = 0; i < 8; ++i) v[i] = db * float(byte_of(g, i)) * iq_sign(signs, i);
#elif TYPE == TYPE_IQ3_XXS || TYPE == TYPE_IQ3_S
  // Chunk c is part l of group ib: two 4-element grid entries under one sign byte.
  const uint ib = (c >> 2) & 7u, l = c & 3u;
#if TYPE == TYPE_IQ3_XXS
  // 98 bytes: f16 d, qs[64] grid indices, per group a uint32: 4 x 7 sign bits + scale << 28.
  const uint bb = row_byte + (c >> 5) * 98u;
  const uint aux = load_u32_at(t, piece, bb + 66u + 4u * ib);
  const float db = half_to_float(load_u16(t, piece, bb)) * (0.5 + float(aux >> 28)) * 0.5;
  const uint q2 = load_u16(t, piece, bb + 2u + 8u * ib + 2u * l);
  const uvec2 g = uvec2(iq_expand3(IQ_ENTRY(iq_kgrid_IQ3XXS, q2 & 255u), iq_levels_IQ3XXS),
                        iq_expand3(IQ_ENTRY(iq_kgrid_IQ3XXS, q2 >> 8), iq_levels_IQ3XXS));
  const uint signs = iq_sign_byte((aux >> (7u * l)) & 127u);
#else
  // 110 bytes: f16 d, qs[64], qh[8] (9th index bits), signs[32], scales[4] (a nibble per group).
  const uint bb = row_byte + (c >> 5) * 110u;
  const uint sc = (load_u8(t, piece, bb + 106u + ib / 2u) >> (4u * (ib & 1u))) & 15u;
  const float db = half_to_float(load_u16(t, piece, bb)) * float(1u + 2u * sc);
  const uint qh = load_u8(t, piece, bb + 66u + ib);
  const uint q2 = load_u16(t, piece, bb + 2u + 8u * ib + 2u * l);
  const uint i1 = (q2 & 255u) | ((qh << (8u - 2u * l)) & 256u), i2 = (q2 >> 8) | ((qh << (7u - 2u * l)) & 256u);
  const uvec2 g = uvec2(iq_expand3(IQ_ENTRY(iq_kgrid_IQ3S, i1), iq_levels_IQ3S),
                        iq_expand3(IQ_ENTRY(iq_kgrid_IQ3S, i2), iq_levels_IQ3S));
  const uint signs = load_u8(t, piece, bb + 74u + 4u * ib + l);
#endif
  for (uint i = 0; i < 8; ++i) v[i] = db * float(byte_of(g, i)) * iq_sign(signs, i);
#elif TYPE == TYPE_IQ1_S || TYPE == TYPE_IQ1_M
  // Chunk c is part l of group ib: one 8-element grid entry of -1/0/+1, y = dl * (grid + delta).
  const uint ib = (c >> 2) & 7u, l = c & 3u;
#if TYPE == TYPE_IQ1_S
  // 50 bytes: f16 d, qs[32] low index bits, u16 qh[8]: 3 index bits per entry, scale << 12, delta sign << 15.
  const uint bb = row_byte + (c >> 5) * 50u;
  const uint qh = load_u16(t, piece, bb + 34u + 2u * ib);
  const float dl = half_to_float(load_u16(t, piece, bb)) * float(2u * ((qh >> 12) & 7u) + 1u);
  const float delta = (qh & 0x8000u) != 0u ? -0.125 : 0.125;
  const uint gi = load_u8(t, piece, bb + 2u + 4u * ib + l) | (((qh >> (3u * l)) & 7u) << 8);
#else
  // 56 bytes: qs[32], qh[16] (per entry 3 index bits + delta sign), u16 scales[4] (3-bit scales,
  // the f16 d in their top nibbles).
  const uint bb = row_byte + (c >> 5) * 56u;
  const uint s0 = load_u16(t, piece, bb + 48u), s1 = load_u16(t, piece, bb + 50u);
  const uint s2 = load_u16(t, piece, bb + 52u), s3 = load_u16(t, piece, bb + 54u);
  const float d = half_to_float((s0 >> 12) | ((s1 >> 8) & 0xf0u) | ((s2 >> 4) & 0xf00u) | (s3 & 0xf000u));
  const uint sw = ib < 2u ? s0 : ib < 4u ? s1 : ib < 6u ? s2 : s3;
  const float dl = d * float(2u * ((sw >> (6u * (ib & 1u) + 3u * (l >> 1))) & 7u) + 1u);
  const uint qhb = load_u8(t, piece, bb + 32u + 2u * ib + (l >> 1)) >> (4u * (l & 1u));
  const float delta = (qhb & 8u) != 0u ? -0.125 : 0.125;
  const uint gi = load_u8(t, piece, bb + 4u * ib + l) | ((qhb & 7u) << 8);
#endif
  const uvec2 g = iq_expand2(IQ_ENTRY(iq_kgrid_IQ1S, gi), iq_levels_IQ1S);
  for (uint i = 0; i < 8; ++i) v[i] = dl * (float(bitfieldExtract(int(i < 4u ? g.x : g.y), int((i & 3u) * 8u), 8)) + delta);
#else
#error "dequant.glsl: unsupported TYPE"
#endif
