// Random blocks of the types of issue 11 for the GPU tests (get_rows, matmul, MoE experts):
// ggml has no reference quantizer for the grid types, so tests write random bytes, which are
// valid blocks once their f16 scales are sane (grid indices cover whole tables).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/quant/ggml_type.h"
#include "runtime/quant/half.h"
#include "runtime/quant/quant.h"
#include "tests/test_util.h"

namespace vkmoe::test {

struct NewType {
  GgmlType type;
  std::vector<int> halves;  // byte offsets of the block's f16 scales, set to sane values
};

inline const std::vector<NewType>& new_types() {
  static const std::vector<NewType> types = {
      {GgmlType::Q4_1, {0, 2}},  {GgmlType::Q5_0, {0}},   {GgmlType::Q5_1, {0, 2}},   {GgmlType::MXFP4, {}},
      {GgmlType::IQ4_NL, {0}},   {GgmlType::IQ4_XS, {0}}, {GgmlType::Q2_K, {80, 82}}, {GgmlType::Q3_K, {108}},
      {GgmlType::IQ2_XXS, {0}},  {GgmlType::IQ2_XS, {0}}, {GgmlType::IQ2_S, {0}},     {GgmlType::IQ3_XXS, {0}},
      {GgmlType::IQ3_S, {0}},    {GgmlType::IQ1_S, {0}},  {GgmlType::IQ1_M, {}},
  };
  return types;
}

// Sets the f16 scale(s) of the block at p to s (IQ1_M keeps its d in four nibbles).
inline void set_block_scale(const NewType& nt, uint8_t* p, float s) {
  const uint16_t h = f32_to_f16(s);
  for (int at : nt.halves) std::memcpy(p + at, &h, 2);
  if (nt.type == GgmlType::IQ1_M)
    for (int k = 0; k < 4; ++k) p[49 + 2 * k] = uint8_t((p[49 + 2 * k] & 0x0f) | ((h >> (4 * k)) & 15) << 4);
}

// n blocks of random bytes with sane scales at `p`.
inline void random_blocks(const NewType& nt, uint8_t* p, uint64_t blocks) {
  const auto info = *ggml_type_info(uint32_t(nt.type));
  std::uniform_int_distribution<int> byte(0, 255);
  std::normal_distribution<float> nd(0.0f, 0.05f);
  for (uint64_t b = 0; b < blocks; ++b, p += info.block_bytes) {
    for (uint32_t i = 0; i < info.block_bytes; ++i) p[i] = uint8_t(byte(rng()));
    set_block_scale(nt, p, nd(rng()));
    if (nt.type == GgmlType::MXFP4) p[0] = uint8_t(std::uniform_int_distribution<int>(100, 140)(rng()));
  }
}

inline const NewType& new_type(GgmlType t) {
  for (const NewType& nt : new_types())
    if (nt.type == t) return nt;
  throw std::invalid_argument("not a type of issue 11");
}

// A stand-in quantizer for the grid types (ggml has no reference one): random valid blocks,
// each scaled so that its RMS is that of the values it replaces.
inline std::vector<uint8_t> blocks_like(GgmlType t, std::span<const float> values) {
  const NewType& nt = new_type(t);
  const auto info = *ggml_type_info(uint32_t(t));
  const uint64_t blocks = values.size() / info.block_elems;
  std::vector<uint8_t> bytes(blocks * info.block_bytes);
  random_blocks(nt, bytes.data(), blocks);
  std::vector<float> y(info.block_elems);
  auto rms = [](std::span<const float> v) {
    double s = 0;
    for (float f : v) s += double(f) * f;
    return std::sqrt(s / double(v.size()));
  };
  for (uint64_t b = 0; b < blocks; ++b) {
    uint8_t* p = bytes.data() + b * info.block_bytes;
    set_block_scale(nt, p, 1.0f);
    dequantize_row(t, p, y.data(), y.size());
    const double r = rms(y), want = rms(values.subspan(b * info.block_elems, info.block_elems));
    set_block_scale(nt, p, r > 0 ? float(want / r) : 0.0f);
  }
  return bytes;
}

// rows x cols of random blocks at byte `offset` of the returned buffer (rest 0xAB), padded to 4.
inline std::vector<uint8_t> random_rows(const NewType& nt, uint32_t rows, uint32_t cols, uint64_t offset) {
  const auto info = *ggml_type_info(uint32_t(nt.type));
  const uint64_t blocks = uint64_t(rows) * cols / info.block_elems;
  std::vector<uint8_t> bytes(offset + (blocks * info.block_bytes + 3) / 4 * 4, 0xAB);
  random_blocks(nt, bytes.data() + offset, blocks);
  return bytes;
}

}  // namespace vkmoe::test
