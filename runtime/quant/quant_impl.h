// Internals shared by the codec files (quant.cpp, quant_small.cpp, quant_k_low.cpp, quant_iq.cpp).
#pragma once
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>

#include "runtime/quant/ggml_type.h"

namespace vkmoe::quant_detail {

constexpr float kGroupMaxEps = 1e-15f;  // ggml's GROUP_MAX_EPS: a group this small is all zero

// ggml's nearest_int: adding 1.5 * 2^23 leaves the rounded integer in the low mantissa bits,
// so ties go to even (std::lround would round them away from zero and pick other levels).
inline int nearest_int(float f) {
  const float v = f + 12582912.f;
  return (std::bit_cast<int32_t>(v) & 0x007fffff) - 0x00400000;
}

// The element of largest magnitude (the first of equals), which ggml's symmetric quantizers map
// to their most negative level.
inline float signed_absmax(const float* x, int n) {
  float amax = 0, max = 0;
  for (int i = 0; i < n; ++i) {
    if (amax < std::fabs(x[i])) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  return max;
}

// ggml's make_qkx2_quants: asymmetric levels in [0, nmax] with a min <= 0, weighted squared
// (or, use_mad, absolute) error. Returns the scale; *the_min gets -min.
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                       uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad);

inline uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

struct RowCodec {
  void (*quantize)(const float*, void*, size_t);  // nullptr where ggml has no reference quantizer
  void (*dequantize)(const void*, float*, size_t);
};

// Row loops over one block codec. Blocks go through a local copy, so src/dst need no alignment.
template <typename Block, void (*quantize_block)(const float*, Block&)>
void quantize_blocks(const float* src, void* dst, size_t n) {
  auto* out = static_cast<uint8_t*>(dst);
  for (size_t i = 0; i < n / Block::kElems; ++i) {
    Block b{};
    quantize_block(src + i * Block::kElems, b);
    std::memcpy(out + i * sizeof(Block), &b, sizeof(Block));
  }
}

template <typename Block, void (*dequantize_block)(const Block&, float*)>
void dequantize_blocks(const void* src, float* dst, size_t n) {
  const auto* in = static_cast<const uint8_t*>(src);
  for (size_t i = 0; i < n / Block::kElems; ++i) {
    Block b;
    std::memcpy(&b, in + i * sizeof(Block), sizeof(Block));
    dequantize_block(b, dst + i * Block::kElems);
  }
}

// The codecs of each file, or nullopt for a type it does not hold.
std::optional<RowCodec> small_block_codec(GgmlType t);  // Q4_1, Q5_0, Q5_1, MXFP4, IQ4_NL, IQ4_XS
std::optional<RowCodec> k_low_codec(GgmlType t);        // Q2_K, Q3_K
std::optional<RowCodec> iq_codec(GgmlType t);           // IQ2_*, IQ3_*, IQ1_* (grids)

}  // namespace vkmoe::quant_detail
