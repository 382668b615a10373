// Codecs of Q2_K and Q3_K, following ggml-quants.c's reference quantizers
// (quantize_row_q2_K_ref, quantize_row_q3_K_ref) and dequantizers operation for operation.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "runtime/quant/half.h"
#include "runtime/quant/quant_blocks.h"
#include "runtime/quant/quant_impl.h"

namespace vkmoe::quant_detail {

namespace {

// 2-bit levels of 256 elements into qs[64]: element 128h + 32k + l at bits 2k of qs[32h + l].
void pack_2bit(const uint8_t* L, uint8_t* qs) {
  for (int j = 0; j < 256; j += 128)
    for (int l = 0; l < 32; ++l)
      qs[j / 4 + l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

void quantize_block(const float* x, BlockQ2K& y) {
  uint8_t L[256], Laux[16];
  float weights[16], mins[16], scales[16];
  const float q4scale = 15.f;
  float max_scale = 0, max_min = 0;  // the min is deducted, so scales are positive
  for (int j = 0; j < 16; ++j) {
    for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
    scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, true);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  // Through uint8_t like ggml's int-to-uint8_t stores.
  if (max_scale > 0) {
    const float iscale = q4scale / max_scale;
    for (int j = 0; j < 16; ++j) y.scales[j] = static_cast<uint8_t>(nearest_int(iscale * scales[j]));
    y.d = f32_to_f16(max_scale / q4scale);
  } else {
    std::memset(y.scales, 0, sizeof y.scales);
    y.d = f32_to_f16(0.f);
  }
  if (max_min > 0) {
    const float iscale = q4scale / max_min;
    for (int j = 0; j < 16; ++j) y.scales[j] |= static_cast<uint8_t>(nearest_int(iscale * mins[j]) << 4);
    y.dmin = f32_to_f16(max_min / q4scale);
  } else {
    y.dmin = f32_to_f16(0.f);
  }
  for (int j = 0; j < 16; ++j) {
    const float d = f16_to_f32(y.d) * (y.scales[j] & 0xF);
    if (!d) continue;
    const float dm = f16_to_f32(y.dmin) * (y.scales[j] >> 4);
    for (int ii = 0; ii < 16; ++ii)
      L[16 * j + ii] = static_cast<uint8_t>(std::max(0, std::min(3, nearest_int((x[16 * j + ii] + dm) / d))));
  }
  pack_2bit(L, y.qs);
}

void dequantize_block(const BlockQ2K& x, float* y) {
  const float d = f16_to_f32(x.d), min = f16_to_f32(x.dmin);
  for (int h = 0; h < 2; ++h) {
    const uint8_t* q = x.qs + 32 * h;
    for (int k = 0; k < 4; ++k) {
      for (int half = 0; half < 2; ++half) {
        const uint8_t sc = x.scales[8 * h + 2 * k + half];
        const float dl = d * (sc & 0xF), ml = min * (sc >> 4);
        for (int l = 0; l < 16; ++l) *y++ = dl * ((q[l + 16 * half] >> (2 * k)) & 3) - ml;
      }
    }
  }
}

// ggml's make_q3_quants with do_rmse: symmetric levels in [-nmax, nmax - 1] (stored + nmax),
// refined one element at a time for up to 5 passes while the weighted fit improves.
float make_q3_quants(int n, int nmax, const float* x, int8_t* L) {
  const float max = signed_absmax(x, n);
  if (std::fabs(max) < kGroupMaxEps) {
    std::fill(L, L + n, int8_t{0});
    return 0.f;
  }
  const float iscale = -nmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = std::max(-nmax, std::min(nmax - 1, nearest_int(iscale * x[i])));
    L[i] = static_cast<int8_t>(l);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  for (int itry = 0; itry < 5; ++itry) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      float slx = sumlx - w * x[i] * L[i];
      if (slx > 0) {
        float sl2 = suml2 - w * L[i] * L[i];
        const int new_l = std::max(-nmax, std::min(nmax - 1, nearest_int(x[i] * sl2 / slx)));
        if (new_l != L[i]) {
          slx += w * x[i] * new_l;
          sl2 += w * new_l * new_l;
          if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = static_cast<int8_t>(new_l);
            sumlx = slx;
            suml2 = sl2;
            ++n_changed;
          }
        }
      }
    }
    if (!n_changed) break;
  }
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// The signed 6-bit scale j of a Q3_K block (stored + 32).
int q3_scale(const uint8_t* scales, int j) {
  const int lo = j < 8 ? scales[j] & 0xF : scales[j - 8] >> 4;
  return (lo | (((scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
}

void quantize_block(const float* x, BlockQ3K& y) {
  int8_t L[256];
  float scales[16], max_scale = 0, amax = 0;
  for (int j = 0; j < 16; ++j) {
    scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
    if (std::fabs(scales[j]) > amax) {
      amax = std::fabs(scales[j]);
      max_scale = scales[j];
    }
  }
  std::memset(y.scales, 0, 12);
  if (max_scale) {
    const float iscale = -32.f / max_scale;
    for (int j = 0; j < 16; ++j) {
      // int8_t as ggml, then clamped and biased.
      int8_t l = static_cast<int8_t>(nearest_int(iscale * scales[j]));
      l = static_cast<int8_t>(std::max<int>(-32, std::min<int>(31, l)) + 32);
      if (j < 8) y.scales[j] = l & 0xF;
      else y.scales[j - 8] |= static_cast<uint8_t>((l & 0xF) << 4);
      l = static_cast<int8_t>(l >> 4);
      y.scales[j % 4 + 8] |= static_cast<uint8_t>(l << (2 * (j / 4)));
    }
    y.d = f32_to_f16(1 / iscale);
  } else {
    y.d = f32_to_f16(0.f);
  }
  for (int j = 0; j < 16; ++j) {
    const float d = f16_to_f32(y.d) * q3_scale(y.scales, j);
    if (!d) continue;
    for (int ii = 0; ii < 16; ++ii)
      L[16 * j + ii] = static_cast<int8_t>(std::max(-4, std::min(3, nearest_int(x[16 * j + ii] / d))) + 4);
  }
  // The high bit of element 32 m + l (m < 8) goes to bit m of hmask[l].
  std::memset(y.hmask, 0, sizeof y.hmask);
  uint8_t U[256];
  for (int j = 0; j < 256; ++j) {
    if (L[j] > 3) {
      y.hmask[j % 32] |= static_cast<uint8_t>(1 << (j / 32));
      L[j] = static_cast<int8_t>(L[j] - 4);
    }
    U[j] = static_cast<uint8_t>(L[j]);
  }
  pack_2bit(U, y.qs);
}

void dequantize_block(const BlockQ3K& x, float* y) {
  const float d_all = f16_to_f32(x.d);
  for (int h = 0; h < 2; ++h) {
    const uint8_t* q = x.qs + 32 * h;
    for (int k = 0; k < 4; ++k) {
      const int m = 1 << (4 * h + k);
      for (int half = 0; half < 2; ++half) {
        const float dl = d_all * q3_scale(x.scales, 8 * h + 2 * k + half);
        for (int l = 16 * half; l < 16 * half + 16; ++l)
          *y++ = dl * (((q[l] >> (2 * k)) & 3) - ((x.hmask[l] & m) ? 0 : 4));
      }
    }
  }
}

}  // namespace

std::optional<RowCodec> k_low_codec(GgmlType t) {
  switch (t) {
    case GgmlType::Q2_K: return RowCodec{quantize_blocks<BlockQ2K, quantize_block>, dequantize_blocks<BlockQ2K, dequantize_block>};
    case GgmlType::Q3_K: return RowCodec{quantize_blocks<BlockQ3K, quantize_block>, dequantize_blocks<BlockQ3K, dequantize_block>};
    default: return std::nullopt;
  }
}

}  // namespace vkmoe::quant_detail
