// Dense weights for the matmul kernel tests: every type the kernels take, random rows kept
// with their dequantized values for the double-precision reference.
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/kernels/matmul.h"
#include "runtime/quant/quant.h"
#include "tests/ops_test_util.h"

namespace vkmoe::test {

inline const GgmlType kTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q8_0,
                                  GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};

// Odd where the type allows: plain types take any row length, block types whole blocks.
inline uint32_t test_cols(GgmlType t) {
  const uint32_t block = ggml_type_info(uint32_t(t))->block_elems;
  return block == 1 ? 97 : block == 32 ? 96 : 512;
}

// A random [rows, cols] weight in `type`, stored at byte `offset` of its buffer, with its
// dequantized values for the reference.
struct TestWeight {
  std::vector<float> deq;
  GpuBuf buf;
  DenseWeight w;
  // spare: bytes after the tensor (rounded to 4) in its buffer, room to pad the binding to 16.
  TestWeight(Context& ctx, GgmlType type, uint32_t rows, uint32_t cols, uint64_t offset = 0,
             uint64_t max_piece_bytes = 0, uint64_t spare = 0)
      : buf(ctx, make_bytes(type, rows, cols, offset, spare, deq)) {
    w = make_dense_weight(ctx.device(), buf.buffer, offset, type, rows, cols, max_piece_bytes);
  }
  static std::vector<uint8_t> make_bytes(GgmlType type, uint32_t rows, uint32_t cols, uint64_t offset,
                                         uint64_t spare, std::vector<float>& deq) {
    const uint64_t row_bytes = ggml_row_bytes(type, cols);
    std::vector<uint8_t> bytes(offset + (rows * row_bytes + 3) / 4 * 4 + spare, 0xAB);
    auto src = random_floats(size_t(rows) * cols);
    deq.resize(src.size());
    for (uint32_t r = 0; r < rows; ++r) {
      uint8_t* row = bytes.data() + offset + r * row_bytes;
      quantize_row(type, src.data() + size_t(r) * cols, row, cols);
      dequantize_row(type, row, deq.data() + size_t(r) * cols, cols);
    }
    return bytes;
  }
};

inline double tolerance(GgmlType t) { return t == GgmlType::F32 ? 1e-5 : 1e-4; }

}  // namespace vkmoe::test
