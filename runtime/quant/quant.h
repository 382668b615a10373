// GGML's block formats on the CPU: the exact byte layouts GGUF files use, dequantizers that
// match ggml's dequantize_row_* bit for bit, and quantizers that follow ggml's reference
// (`quantize_row_*_ref`, no importance weights) so files we write quantize like llama.cpp's.
//
// Codecs: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, MXFP4, IQ4_NL, Q2_K..Q6_K, IQ4_XS and
// (dequantize only: ggml has no reference quantizer) IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S,
// IQ1_S, IQ1_M. Block layouts of the types added later are in quant_blocks.h.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "runtime/quant/ggml_type.h"
#include "runtime/quant/half.h"

namespace vkmoe {

// Every field is a byte or a little-endian half, so these have no padding and alignment 2;
// the row functions copy blocks in and out, so callers' buffers need no alignment.

// y[i] = d * qs[i].
struct BlockQ8_0 {
  static constexpr size_t kElems = 32;
  uint16_t d;  // f16
  int8_t qs[32];
};
static_assert(sizeof(BlockQ8_0) == 34);

// y[i] = d * (q[i] - 8); qs[j] holds element j in its low nibble and element j + 16 in its high.
struct BlockQ4_0 {
  static constexpr size_t kElems = 32;
  uint16_t d;  // f16
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ4_0) == 18);

// 8 sub-blocks of 32 with a 6-bit scale and min each: y = d * sc * q - dmin * m.
// scales[12]: for j < 4, sc_j = scales[j] & 63 and m_j = scales[j + 4] & 63; for j >= 4,
// sc_j = (scales[j + 4] & 15) | (scales[j - 4] >> 6) << 4 and m_j = (scales[j + 4] >> 4) |
// (scales[j] >> 6) << 4. qs: 4 groups of 32 bytes; group g holds sub-block 2g in low nibbles and 2g
// + 1 in high nibbles.
struct BlockQ4K {
  static constexpr size_t kElems = 256;
  uint16_t d;     // f16 super-block scale for the scales
  uint16_t dmin;  // f16 super-block scale for the mins
  uint8_t scales[12];
  uint8_t qs[128];
};
static_assert(sizeof(BlockQ4K) == 144);

// As Q4_K with a fifth bit: element 32j + l adds 16 when bit j of qh[l] is set.
struct BlockQ5K {
  static constexpr size_t kElems = 256;
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[32];
  uint8_t qs[128];
};
static_assert(sizeof(BlockQ5K) == 176);

// 16 sub-blocks of 16 with a signed 8-bit scale: y = d * scales[e / 16] * (q - 32), q 6-bit.
// Each half h of 128 elements uses ql[64h..64h+63] and qh[32h..32h+31]: element 128h + 32k + l
// (k < 4, l < 32) has its low 4 bits in ql[64h + 32(k & 1) + l] (high nibble when k >= 2) and
// its top 2 bits at bit 2k of qh[32h + l].
struct BlockQ6K {
  static constexpr size_t kElems = 256;
  uint8_t ql[128];
  uint8_t qh[64];
  int8_t scales[16];
  uint16_t d;  // f16
};
static_assert(sizeof(BlockQ6K) == 210);

// Whether the CPU can dequantize / quantize type t (independent of the GPU kernels).
bool codec_supported(GgmlType t);
bool quantizer_supported(GgmlType t);

// Rows of n elements; n must be a multiple of the type's block size (std::invalid_argument
// naming the type and n otherwise, and for a type without a codec or quantizer).
// dst must hold ggml_row_bytes(t, n) bytes (quantize_row) or n floats (dequantize_row).
void quantize_row(GgmlType t, const float* src, void* dst, size_t n);
void dequantize_row(GgmlType t, const void* src, float* dst, size_t n);

std::vector<uint8_t> quantize(GgmlType t, std::span<const float> src);
// src must be exactly ggml_row_bytes(t, n) bytes.
std::vector<float> dequantize(GgmlType t, std::span<const uint8_t> src, size_t n);

}  // namespace vkmoe
