// Codecs of the 32-element block types Q4_1, Q5_0, Q5_1, MXFP4, IQ4_NL, and of IQ4_XS (which
// shares IQ4_NL's values and quantizer). Each follows ggml-quants.c's reference operation for
// operation, casts included, since the stored levels depend on every rounding.
#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "runtime/quant/half.h"
#include "runtime/quant/iq_tables.h"
#include "runtime/quant/quant_blocks.h"
#include "runtime/quant/quant_impl.h"

namespace vkmoe::quant_detail {

namespace {

// Min/max quantizers (Q4_1, Q5_1): the range maps onto levels 0..nmax; levels go through uint8_t
// (or int8_t) truncation of x + 0.5 exactly as ggml writes it.
template <typename Block>
float min_max_scale(const float* x, Block& y, int nmax, float& min) {
  min = FLT_MAX;
  float max = -FLT_MAX;
  for (int j = 0; j < 32; ++j) {
    if (x[j] < min) min = x[j];
    if (x[j] > max) max = x[j];
  }
  const float d = (max - min) / nmax;
  y.d = f32_to_f16(d);
  y.m = f32_to_f16(min);
  return d ? 1.0f / d : 0.0f;
}

void quantize_block(const float* x, BlockQ4_1& y) {
  float min;
  const float id = min_max_scale(x, y, 15, min);
  for (int j = 0; j < 16; ++j) {
    const uint8_t xi0 = std::min(15, static_cast<int>(static_cast<int8_t>((x[j] - min) * id + 0.5f)));
    const uint8_t xi1 = std::min(15, static_cast<int>(static_cast<int8_t>((x[j + 16] - min) * id + 0.5f)));
    y.qs[j] = static_cast<uint8_t>(xi0 | xi1 << 4);
  }
}

void dequantize_block(const BlockQ4_1& x, float* y) {
  const float d = f16_to_f32(x.d), m = f16_to_f32(x.m);
  for (int j = 0; j < 16; ++j) {
    y[j] = (x.qs[j] & 0x0F) * d + m;
    y[j + 16] = (x.qs[j] >> 4) * d + m;
  }
}

// The 5th bits of 32 levels into qh (element j at bit j).
void pack_qh(uint8_t* qh, const uint8_t* lo, const uint8_t* hi, uint8_t* qs) {
  uint32_t bits = 0;
  for (int j = 0; j < 16; ++j) {
    qs[j] = static_cast<uint8_t>((lo[j] & 0x0F) | ((hi[j] & 0x0F) << 4));
    bits |= uint32_t((lo[j] & 0x10u) >> 4) << j;
    bits |= uint32_t((hi[j] & 0x10u) >> 4) << (j + 16);
  }
  std::memcpy(qh, &bits, 4);
}

// Level of element j (0..31) of a Q5 block: low nibble | 5th bit.
int q5_level(const uint8_t* qs, const uint8_t* qh, int j) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  const int nib = j < 16 ? qs[j] & 0x0F : qs[j - 16] >> 4;
  return nib | int((bits >> j) & 1u) << 4;
}

void quantize_block(const float* x, BlockQ5_0& y) {
  const float d = signed_absmax(x, 32) / -16;
  const float id = d ? 1.0f / d : 0.0f;
  y.d = f32_to_f16(d);
  uint8_t lo[16], hi[16];
  for (int j = 0; j < 16; ++j) {
    lo[j] = static_cast<uint8_t>(std::min(31, static_cast<int>(static_cast<int8_t>(x[j] * id + 16.5f))));
    hi[j] = static_cast<uint8_t>(std::min(31, static_cast<int>(static_cast<int8_t>(x[j + 16] * id + 16.5f))));
  }
  pack_qh(y.qh, lo, hi, y.qs);
}

void dequantize_block(const BlockQ5_0& x, float* y) {
  const float d = f16_to_f32(x.d);
  for (int j = 0; j < 32; ++j) y[j] = (q5_level(x.qs, x.qh, j) - 16) * d;
}

void quantize_block(const float* x, BlockQ5_1& y) {
  float min;
  const float id = min_max_scale(x, y, 31, min);
  uint8_t lo[16], hi[16];
  for (int j = 0; j < 16; ++j) {
    lo[j] = static_cast<uint8_t>((x[j] - min) * id + 0.5f);
    hi[j] = static_cast<uint8_t>((x[j + 16] - min) * id + 0.5f);
  }
  pack_qh(y.qh, lo, hi, y.qs);
}

void dequantize_block(const BlockQ5_1& x, float* y) {
  const float d = f16_to_f32(x.d), m = f16_to_f32(x.m);
  for (int j = 0; j < 32; ++j) y[j] = q5_level(x.qs, x.qh, j) * d + m;
}

// ggml's GGML_E8M0_TO_FP32_HALF: 2^(e - 128), subnormal for e < 2.
float e8m0_half(uint8_t e) {
  const uint32_t bits = e < 2 ? 0x00200000u << e : uint32_t(e - 1) << 23;
  return std::bit_cast<float>(bits);
}

// First index of the value nearest x / e, as ggml's best_index_mxfp4 (ties keep the lower index).
int best_index_mxfp4(float x, float e) {
  int best = 0;
  float best_err = std::fabs(iq::kValuesMxfp4[0] * e - x);
  for (int i = 1; i < 16; ++i) {
    const float err = std::fabs(iq::kValuesMxfp4[i] * e - x);
    if (err < best_err) {
      best = i;
      best_err = err;
    }
  }
  return best;
}

void quantize_block(const float* x, BlockMxfp4& y) {
  float amax = 0.0f;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  // (uint8_t) of a float as ggml: floor(log2(amax)) - 2 + 127, the largest e2m1 value being 6.
  y.e = amax > 0.0f ? static_cast<uint8_t>(std::floor(std::log2(amax)) - 2 + 127) : 0;
  const float d = e8m0_half(y.e);
  for (int j = 0; j < 16; ++j)
    y.qs[j] = static_cast<uint8_t>(best_index_mxfp4(x[j], d) | best_index_mxfp4(x[j + 16], d) << 4);
}

void dequantize_block(const BlockMxfp4& x, float* y) {
  const float d = e8m0_half(x.e);
  for (int j = 0; j < 16; ++j) {
    y[j] = iq::kValuesMxfp4[x.qs[j] & 0x0F] * d;
    y[j + 16] = iq::kValuesMxfp4[x.qs[j] >> 4] * d;
  }
}

// ggml's best_index_int8 on the sorted IQ4_NL values: binary search, ties to the upper value.
int best_index_iq4(float x) {
  const int8_t* val = iq::kValuesIq4nl;
  if (x <= val[0]) return 0;
  if (x >= val[15]) return 15;
  int ml = 0, mu = 15;
  while (mu - ml > 1) {
    const int mav = (ml + mu) / 2;
    if (x < val[mav]) mu = mav;
    else ml = mav;
  }
  return x - val[mu - 1] < val[mu] - x ? mu - 1 : mu;
}

// The best scale of one 32-element sub-block (ggml's quantize_row_iq4_nl_impl without importance
// weights): the first fit, then 2 ntry + 1 candidate scales. L gets the first fit's levels.
float iq4_block_scale(const float* xb, int ntry, uint8_t* L) {
  float weight[32];
  for (int j = 0; j < 32; ++j) weight[j] = xb[j] * xb[j];
  const float max = signed_absmax(xb, 32);
  if (std::fabs(max) < kGroupMaxEps) return 0;
  const int8_t* values = iq::kValuesIq4nl;
  float d = ntry > 0 ? -max / values[0] : max / values[0];
  float id = 1 / d;
  float sumqx = 0, sumq2 = 0;
  for (int j = 0; j < 32; ++j) {
    const int l = best_index_iq4(id * xb[j]);
    L[j] = static_cast<uint8_t>(l);
    const float q = values[l], w = weight[j];
    sumqx += w * q * xb[j];
    sumq2 += w * q * q;
  }
  d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
  float best = d * sumqx;
  for (int itry = -ntry; itry <= ntry; ++itry) {
    id = (itry + values[0]) / max;
    sumqx = sumq2 = 0;
    for (int j = 0; j < 32; ++j) {
      const float q = values[best_index_iq4(id * xb[j])], w = weight[j];
      sumqx += w * q * xb[j];
      sumq2 += w * q * q;
    }
    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
      d = sumqx / sumq2;
      best = d * sumqx;
    }
  }
  return d;
}

// Nibbles of 32 levels: element j low, j + 16 high.
void pack_nibbles(const uint8_t* L, uint8_t* qs) {
  for (int j = 0; j < 16; ++j) qs[j] = static_cast<uint8_t>(L[j] | (L[16 + j] << 4));
}

void quantize_block(const float* x, BlockIq4Nl& y) {
  uint8_t L[32] = {};
  y.d = f32_to_f16(iq4_block_scale(x, -1, L));  // ntry -1: the first fit only
  pack_nibbles(L, y.qs);
}

void dequantize_block(const BlockIq4Nl& x, float* y) {
  const float d = f16_to_f32(x.d);
  for (int j = 0; j < 16; ++j) {
    y[j] = d * iq::kValuesIq4nl[x.qs[j] & 0xf];
    y[j + 16] = d * iq::kValuesIq4nl[x.qs[j] >> 4];
  }
}

void quantize_block(const float* x, BlockIq4Xs& y) {
  float scales[8], max_scale = 0, amax_scale = 0;
  uint8_t L[256] = {};
  for (int ib = 0; ib < 8; ++ib) {
    scales[ib] = iq4_block_scale(x + 32 * ib, 7, L + 32 * ib);
    if (std::fabs(scales[ib]) > amax_scale) {
      amax_scale = std::fabs(scales[ib]);
      max_scale = scales[ib];
    }
  }
  const float d = -max_scale / 32;
  y.d = f32_to_f16(d);
  y.scales_h = 0;
  const float id = d ? 1 / d : 0.f;
  for (int ib = 0; ib < 8; ++ib) {
    int l = std::max(-32, std::min(31, nearest_int(id * scales[ib])));
    const float dl = d * l;
    const float idl = dl ? 1 / dl : 0.f;
    for (int j = 0; j < 32; ++j) L[32 * ib + j] = static_cast<uint8_t>(best_index_iq4(idl * x[32 * ib + j]));
    l += 32;
    if (ib % 2 == 0) y.scales_l[ib / 2] = static_cast<uint8_t>(l & 0xf);
    else y.scales_l[ib / 2] |= static_cast<uint8_t>((l & 0xf) << 4);
    y.scales_h = static_cast<uint16_t>(y.scales_h | (l >> 4) << 2 * ib);
    pack_nibbles(L + 32 * ib, y.qs + 16 * ib);
  }
}

void dequantize_block(const BlockIq4Xs& x, float* y) {
  const float d = f16_to_f32(x.d);
  for (int ib = 0; ib < 8; ++ib) {
    const int ls = ((x.scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf) | (((x.scales_h >> 2 * ib) & 3) << 4);
    const float dl = d * (ls - 32);
    const uint8_t* qs = x.qs + 16 * ib;
    for (int j = 0; j < 16; ++j) {
      y[32 * ib + j] = dl * iq::kValuesIq4nl[qs[j] & 0xf];
      y[32 * ib + j + 16] = dl * iq::kValuesIq4nl[qs[j] >> 4];
    }
  }
}

template <typename Block>
RowCodec codec() {
  return {quantize_blocks<Block, quantize_block>, dequantize_blocks<Block, dequantize_block>};
}

}  // namespace

std::optional<RowCodec> small_block_codec(GgmlType t) {
  switch (t) {
    case GgmlType::Q4_1: return codec<BlockQ4_1>();
    case GgmlType::Q5_0: return codec<BlockQ5_0>();
    case GgmlType::Q5_1: return codec<BlockQ5_1>();
    case GgmlType::MXFP4: return codec<BlockMxfp4>();
    case GgmlType::IQ4_NL: return codec<BlockIq4Nl>();
    case GgmlType::IQ4_XS: return codec<BlockIq4Xs>();
    default: return std::nullopt;
  }
}

}  // namespace vkmoe::quant_detail
