// IEEE binary16 and bfloat16 <-> float, bit-exact to ggml's conversions. Header-only so the
// per-element loops in dequantizers inline them.
#pragma once
#include <bit>
#include <cstdint>

namespace vkmoe {

inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | mant << 13);  // inf / nan
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24 is exact in float.
    const float v = static_cast<float>(mant) * 0x1p-24f;
    return sign ? -v : v;
  }
  // Rebias the exponent from 15 to 127.
  return std::bit_cast<float>(sign | (exp + 112) << 23 | mant << 13);
}

// Round to nearest, ties to even (as F16C's vcvtps2ph and ggml's fallback); overflow gives inf,
// NaN stays NaN (quieted, payload truncated like the hardware conversion).
inline uint16_t f32_to_f16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const auto sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return sign | 0x7e00u | ((ax >> 13) & 0x3ffu);
  // 65520 is halfway between 65504 (odd mantissa) and 2^16, so it and above round to inf.
  if (ax >= 0x477ff000u) return sign | 0x7c00u;
  if (ax < 0x38800000u) {  // below 2^-14: a half subnormal (or zero)
    const uint32_t e = ax >> 23;
    if (e < 102) return sign;  // below 2^-25, i.e. under half the smallest subnormal
    const uint32_t m = (ax & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;  // 14..24
    uint32_t q = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1))) ++q;  // a carry into 0x400 is the smallest normal
    return static_cast<uint16_t>(sign | q);
  }
  uint32_t h = (ax - 0x38000000u) >> 13;  // rebias 127 -> 15, drop 13 mantissa bits
  const uint32_t rem = ax & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1)))
    ++h;  // a carry bumps the exponent, as it should
  return static_cast<uint16_t>(sign | h);
}

inline float bf16_to_f32(uint16_t h) {
  return std::bit_cast<float>(static_cast<uint32_t>(h) << 16);
}

// ggml's rule: round to nearest even on the raw bits; NaN keeps its top bits and is forced quiet
// (plain rounding could carry a signalling NaN's payload into inf). Subnormals are kept.
inline uint16_t f32_to_bf16(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 64);
  return static_cast<uint16_t>((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}

}  // namespace vkmoe
