// Quantizers mirror ggml-quants.c's reference code operation for operation (same float
// expression order, same rounding helpers), because the chosen levels depend on every rounding.
#include "runtime/quant/quant.h"

#include "runtime/quant/quant_impl.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

namespace vkmoe {

using namespace quant_detail;

// Asymmetric levels in [0, nmax] with a min <= 0: x ~ scale * L + min. Starts from the range,
// then tries nstep + 1 scales and refits scale and min by weighted least squares each time.
// Returns the scale; *the_min gets -min (>= 0).
float quant_detail::make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                                     float* the_min, uint8_t* Laux, float rmin, float rdelta, int nstep,
                                     bool use_mad) {
  float min = x[0], max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    std::fill(L, L + n, uint8_t{0});
    *the_min = -min;
    return 0.f;
  }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(iscale * (x[i] - min));
    L[i] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    float diff = scale * L[i] + min - x[i];
    diff = use_mad ? std::fabs(diff) : diff * diff;
    best_error += weights[i] * diff;
  }
  if (nstep < 1) {
    *the_min = -min;
    return scale;
  }
  for (int is = 0; is <= nstep; ++is) {
    // ggml updates min as it goes, so later candidates start from the best fit so far.
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * (x[i] - min));
      l = std::max(0, std::min(nmax, l));
      Laux[i] = static_cast<uint8_t>(l);
      const float w = weights[i];
      sum_l += w * l;
      sum_l2 += w * l * l;
      sum_xl += w * l * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * Laux[i] + this_min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        cur_error += weights[i] * diff;
      }
      if (cur_error < best_error) {
        std::copy(Laux, Laux + n, L);
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

namespace {


// ---------------------------------------------------------------------------------------------
// Level search helpers (ggml's make_qx_quants / make_qkx2_quants, the paths the _ref quantizers
// use)

// Symmetric levels in [-nmax, nmax - 1] (stored + nmax) with weights x^2 (rmse_type 1, no
// importance weights): tries 19 scales around nmax / max and keeps the best weighted fit.
float make_qx_quants(int n, int nmax, const float* x, int8_t* L) {
  const float max = signed_absmax(x, n);
  if (std::fabs(max) < kGroupMaxEps) {
    std::fill(L, L + n, int8_t{0});
    return 0.f;
  }
  // Levels for one candidate inverse scale, with the weighted sums of the least-squares fit.
  auto fit = [&](float iscale, float& sumlx, float& suml2, bool store) {
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::max(-nmax, std::min(nmax - 1, nearest_int(iscale * x[i])));
      if (store) L[i] = static_cast<int8_t>(l + nmax);
      const float w = x[i] * x[i];
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
  };
  float sumlx, suml2;
  fit(-nmax / max, sumlx, suml2, true);
  float scale = suml2 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    const float iscale = -(nmax + 0.1f * is) / max;
    fit(iscale, sumlx, suml2, false);
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      fit(iscale, sumlx, suml2, true);
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// The 6-bit scale and min of sub-block j in a Q4_K/Q5_K scales[12] (ggml's get_scale_min_k4).
void get_scale_min_k4(int j, const uint8_t* q, uint8_t& d, uint8_t& m) {
  if (j < 4) {
    d = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
  }
}

// ---------------------------------------------------------------------------------------------
// Per-block codecs

void quantize_block(const float* x, BlockQ8_0& y) {
  float amax = 0;
  for (size_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / ((1 << 7) - 1);
  const float id = d ? 1.0f / d : 0.0f;
  y.d = f32_to_f16(d);
  for (size_t j = 0; j < 32; ++j) y.qs[j] = static_cast<int8_t>(std::round(x[j] * id));
}

void dequantize_block(const BlockQ8_0& x, float* y) {
  const float d = f16_to_f32(x.d);
  for (size_t j = 0; j < 32; ++j) y[j] = x.qs[j] * d;
}

void quantize_block(const float* x, BlockQ4_0& y) {
  // The signed value of largest magnitude maps to level 0 (-8), using the full range on that side.
  const float d = signed_absmax(x, 32) / -8;
  const float id = d ? 1.0f / d : 0.0f;
  y.d = f32_to_f16(d);
  for (size_t j = 0; j < 16; ++j) {
    // + 8.5 and truncation, not nearest_int: that is ggml's rounding here.
    const auto q0 =
        static_cast<uint8_t>(std::min(15, static_cast<int>(static_cast<int8_t>(x[j] * id + 8.5f))));
    const auto q1 = static_cast<uint8_t>(
        std::min(15, static_cast<int>(static_cast<int8_t>(x[j + 16] * id + 8.5f))));
    y.qs[j] = static_cast<uint8_t>(q0 | q1 << 4);
  }
}

void dequantize_block(const BlockQ4_0& x, float* y) {
  const float d = f16_to_f32(x.d);
  for (size_t j = 0; j < 16; ++j) {
    y[j] = ((x.qs[j] & 0x0F) - 8) * d;
    y[j + 16] = ((x.qs[j] >> 4) - 8) * d;
  }
}

// The shared half of quantize_row_q4_K_ref / quantize_row_q5_K_ref: per-sub-block scale and min
// fits, their 6-bit packing into scales[12] with f16 d / dmin, and the final levels L[256] in
// [0, nmax] requantized against the stored (rounded) scales.
void quantize_k_scales(const float* x, int nmax, float rmin, int nstep, uint8_t* packed,
                       uint16_t& d_out, uint16_t& dmin_out, uint8_t* L) {
  float mins[8], scales[8], weights[32];
  uint8_t Laux[32];
  float max_scale = 0, max_min = 0;  // mins are deducted, so scales are positive
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
    scales[j] =
        make_qkx2_quants(32, nmax, xs, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep, false);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  for (int j = 0; j < 8; ++j) {
    // Through uint8_t like ggml (a negative fit wraps, then clamps to 63).
    const auto ls = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * scales[j])));
    const auto lm = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[j])));
    if (j < 4) {
      packed[j] = ls;
      packed[j + 4] = lm;
    } else {
      packed[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
      packed[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
      packed[j - 0] |= static_cast<uint8_t>((lm >> 4) << 6);
    }
  }
  d_out = f32_to_f16(max_scale / 63.f);
  dmin_out = f32_to_f16(max_min / 63.f);

  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    get_scale_min_k4(j, packed, sc, m);
    const float d = f16_to_f32(d_out) * sc;
    if (!d) continue;  // keeps the levels of the fit, as ggml does
    const float dm = f16_to_f32(dmin_out) * m;
    for (int ii = 0; ii < 32; ++ii) {
      const int l = nearest_int((x[32 * j + ii] + dm) / d);
      L[32 * j + ii] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    }
  }
}

void quantize_block(const float* x, BlockQ4K& y) {
  uint8_t L[256];
  quantize_k_scales(x, 15, -1.f, 20, y.scales, y.d, y.dmin, L);
  for (int g = 0; g < 4; ++g)
    for (int l = 0; l < 32; ++l)
      y.qs[32 * g + l] = static_cast<uint8_t>(L[64 * g + l] | (L[64 * g + l + 32] << 4));
}

void quantize_block(const float* x, BlockQ5K& y) {
  uint8_t L[256];
  quantize_k_scales(x, 31, -0.5f, 15, y.scales, y.d, y.dmin, L);
  std::memset(y.qh, 0, sizeof y.qh);
  for (int g = 0; g < 4; ++g) {
    for (int l = 0; l < 32; ++l) {
      int l1 = L[64 * g + l], l2 = L[64 * g + l + 32];
      if (l1 > 15) {
        l1 -= 16;
        y.qh[l] |= static_cast<uint8_t>(1 << (2 * g));
      }
      if (l2 > 15) {
        l2 -= 16;
        y.qh[l] |= static_cast<uint8_t>(2 << (2 * g));
      }
      y.qs[32 * g + l] = static_cast<uint8_t>(l1 | (l2 << 4));
    }
  }
}

// Q4_K and Q5_K dequantize alike; `level(j, l)` is the unsigned level of element 32j + l.
template <typename Block, typename Level>
void dequantize_k_scaled(const Block& x, float* y, Level level) {
  const float d = f16_to_f32(x.d);
  const float min = f16_to_f32(x.dmin);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    get_scale_min_k4(j, x.scales, sc, m);
    const float dl = d * sc;
    const float ml = min * m;
    for (int l = 0; l < 32; ++l) y[32 * j + l] = dl * level(j, l) - ml;
  }
}

void dequantize_block(const BlockQ4K& x, float* y) {
  dequantize_k_scaled(
      x, y, [&](int j, int l) { return (x.qs[32 * (j / 2) + l] >> (4 * (j & 1))) & 0xF; });
}

void dequantize_block(const BlockQ5K& x, float* y) {
  dequantize_k_scaled(x, y, [&](int j, int l) {
    return ((x.qs[32 * (j / 2) + l] >> (4 * (j & 1))) & 0xF) + ((x.qh[l] >> j) & 1 ? 16 : 0);
  });
}

void quantize_block(const float* x, BlockQ6K& y) {
  int8_t L[256];
  float scales[16];
  float max_scale = 0, max_abs_scale = 0;
  for (int ib = 0; ib < 16; ++ib) {
    scales[ib] = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
    if (std::fabs(scales[ib]) > max_abs_scale) {
      max_abs_scale = std::fabs(scales[ib]);
      max_scale = scales[ib];
    }
  }
  if (max_abs_scale < kGroupMaxEps) {
    y = BlockQ6K{};
    return;
  }
  // The largest sub-block scale lands on -128, the end of int8 with the extra value.
  const float iscale = -128.f / max_scale;
  y.d = f32_to_f16(1 / iscale);
  for (int ib = 0; ib < 16; ++ib)
    y.scales[ib] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[ib])));
  for (int j = 0; j < 16; ++j) {
    const float d = f16_to_f32(y.d) * y.scales[j];
    if (!d) continue;
    for (int ii = 0; ii < 16; ++ii) {
      const int l = nearest_int(x[16 * j + ii] / d);
      L[16 * j + ii] = static_cast<int8_t>(std::max(-32, std::min(31, l)) + 32);
    }
  }
  for (int h = 0; h < 2; ++h) {
    const int8_t* Lh = L + 128 * h;
    uint8_t* ql = y.ql + 64 * h;
    uint8_t* qh = y.qh + 32 * h;
    for (int l = 0; l < 32; ++l) {
      const uint8_t q1 = Lh[l + 0] & 0xF, q2 = Lh[l + 32] & 0xF, q3 = Lh[l + 64] & 0xF,
                    q4 = Lh[l + 96] & 0xF;
      ql[l + 0] = static_cast<uint8_t>(q1 | (q3 << 4));
      ql[l + 32] = static_cast<uint8_t>(q2 | (q4 << 4));
      qh[l] = static_cast<uint8_t>((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) |
                                   ((Lh[l + 64] >> 4) << 4) | ((Lh[l + 96] >> 4) << 6));
    }
  }
}

void dequantize_block(const BlockQ6K& x, float* y) {
  const float d = f16_to_f32(x.d);
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = x.ql + 64 * h;
    const uint8_t* qh = x.qh + 32 * h;
    const int8_t* sc = x.scales + 8 * h;
    float* yh = y + 128 * h;
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      // (d * scale) * q, in ggml's order, so the products round identically.
      yh[l + 0] = d * sc[is + 0] * q1;
      yh[l + 32] = d * sc[is + 2] * q2;
      yh[l + 64] = d * sc[is + 4] * q3;
      yh[l + 96] = d * sc[is + 6] * q4;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Row loops and dispatch

// 16-bit float types: one element per 2 bytes, copied bytewise for alignment.
template <uint16_t (*Encode)(float)>
void encode_halves(const float* src, void* dst, size_t n) {
  auto* out = static_cast<uint8_t*>(dst);
  for (size_t i = 0; i < n; ++i) {
    const uint16_t h = Encode(src[i]);
    std::memcpy(out + 2 * i, &h, 2);
  }
}

template <float (*Decode)(uint16_t)>
void decode_halves(const void* src, float* dst, size_t n) {
  const auto* in = static_cast<const uint8_t*>(src);
  for (size_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, in + 2 * i, 2);
    dst[i] = Decode(h);
  }
}

void copy_f32_in(const float* src, void* dst, size_t n) {
  if (n) std::memcpy(dst, src, n * sizeof(float));
}
void copy_f32_out(const void* src, float* dst, size_t n) {
  if (n) std::memcpy(dst, src, n * sizeof(float));
}

std::string type_label(GgmlType t) {
  return std::string(ggml_type_name(t)) + " (" + std::to_string(static_cast<uint32_t>(t)) + ")";
}

std::optional<RowCodec> base_codec(GgmlType t) {
  switch (t) {
    case GgmlType::F32:
      return RowCodec{copy_f32_in, copy_f32_out};
    case GgmlType::F16:
      return RowCodec{encode_halves<f32_to_f16>, decode_halves<f16_to_f32>};
    case GgmlType::BF16:
      return RowCodec{encode_halves<f32_to_bf16>, decode_halves<bf16_to_f32>};
    case GgmlType::Q8_0:
      return RowCodec{quantize_blocks<BlockQ8_0, quantize_block>, dequantize_blocks<BlockQ8_0, dequantize_block>};
    case GgmlType::Q4_0:
      return RowCodec{quantize_blocks<BlockQ4_0, quantize_block>, dequantize_blocks<BlockQ4_0, dequantize_block>};
    case GgmlType::Q4_K:
      return RowCodec{quantize_blocks<BlockQ4K, quantize_block>, dequantize_blocks<BlockQ4K, dequantize_block>};
    case GgmlType::Q5_K:
      return RowCodec{quantize_blocks<BlockQ5K, quantize_block>, dequantize_blocks<BlockQ5K, dequantize_block>};
    case GgmlType::Q6_K:
      return RowCodec{quantize_blocks<BlockQ6K, quantize_block>, dequantize_blocks<BlockQ6K, dequantize_block>};
    default:
      return std::nullopt;
  }
}

std::optional<RowCodec> find_codec(GgmlType t) {
  for (auto* f : {base_codec, small_block_codec, k_low_codec, iq_codec})
    if (auto c = f(t)) return c;
  return std::nullopt;
}

// Names of the types with a codec (and, with `quantizer`, a quantizer), for error messages.
std::string codec_list(bool quantizer) {
  std::string s;
  for (uint32_t i = 0; i < 64; ++i) {
    const auto info = ggml_type_info(i);
    if (!info) continue;
    const auto c = find_codec(info->type);
    if (c && (!quantizer || c->quantize)) s += (s.empty() ? "" : ", ") + std::string(info->name);
  }
  return s;
}

// The codec for t, after checking that it exists (with a quantizer when `quantizing`) and that
// n is a whole number of its blocks.
RowCodec row_codec(const char* what, GgmlType t, size_t n, bool quantizing) {
  const auto codec = find_codec(t);
  if (!codec || (quantizing && !codec->quantize))
    throw std::invalid_argument(std::string(what) + ": type " + type_label(t) + " is not supported (" +
                                codec_list(quantizing) + " are" +
                                (quantizing ? "; ggml has reference quantizers for these only)" : ")"));
  const uint32_t block = ggml_type_info(static_cast<uint32_t>(t))->block_elems;
  if (n % block != 0)
    throw std::invalid_argument(std::string(what) + ": type " + type_label(t) +
                                " needs n to be a multiple of " + std::to_string(block) +
                                ", got n=" + std::to_string(n));
  return *codec;
}

}  // namespace

void quantize_row(GgmlType t, const float* src, void* dst, size_t n) {
  row_codec("quantize_row", t, n, true).quantize(src, dst, n);
}

void dequantize_row(GgmlType t, const void* src, float* dst, size_t n) {
  row_codec("dequantize_row", t, n, false).dequantize(src, dst, n);
}

std::vector<uint8_t> quantize(GgmlType t, std::span<const float> src) {
  const RowCodec codec = row_codec("quantize", t, src.size(), true);
  std::vector<uint8_t> out(ggml_row_bytes(t, src.size()));
  codec.quantize(src.data(), out.data(), src.size());
  return out;
}

std::vector<float> dequantize(GgmlType t, std::span<const uint8_t> src, size_t n) {
  const RowCodec codec = row_codec("dequantize", t, n, false);
  if (src.size() != ggml_row_bytes(t, n))
    throw std::invalid_argument("dequantize: " + std::to_string(n) + " elements of type " +
                                type_label(t) + " take " + std::to_string(ggml_row_bytes(t, n)) +
                                " bytes, got " + std::to_string(src.size()));
  std::vector<float> out(n);
  codec.dequantize(src.data(), out.data(), n);
  return out;
}

bool codec_supported(GgmlType t) { return find_codec(t).has_value(); }

bool quantizer_supported(GgmlType t) {
  const auto c = find_codec(t);
  return c && c->quantize;
}

}  // namespace vkmoe
