// The shaders' dequantization of the types of issue 11 (shaders/dequant_ext.glsl) through the
// embedding lookup, against the CPU codecs: random valid blocks, an odd number of rows at
// 2-byte (MXFP4: any) row offsets, out-of-range ids. One get_rows pipeline per type.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "runtime/kernels/matmul.h"
#include "runtime/quant/quant.h"
#include "runtime/vk/sequence.h"
#include "tests/gpu_fixture.h"
#include "tests/ops_test_util.h"
#include "tests/quant_blocks_util.h"
#include "tests/test_util.h"

using namespace vkmoe;
using namespace vkmoe::test;

TEST_CASE_FIXTURE(GpuTest, "get_rows: the types of issue 11 dequantize as the CPU codecs") {
  for (const NewType& nt : new_types()) {
    CAPTURE(ggml_type_name(nt.type));
    const uint32_t block = ggml_type_info(uint32_t(nt.type))->block_elems;
    const uint32_t rows = 7, cols = block == 32 ? 96 : 512;
    const uint64_t offset = 4;
    const auto bytes = random_rows(nt, rows, cols, offset);
    std::vector<float> deq(size_t(rows) * cols);
    dequantize_row(nt.type, bytes.data() + offset, deq.data(), deq.size());
    GpuBuf wb(ctx, std::span<const uint8_t>(bytes));
    const DenseWeight w = make_dense_weight(ctx.device(), wb.buffer, offset, nt.type, rows, cols);
    const std::vector<uint32_t> ids = {3, 6, 0, 3, 7, 0xFFFFFFFFu, 5, 1};
    const uint32_t stride = cols + 3;
    GpuBuf ib(ctx, ids), yb(ctx, ids.size() * stride);
    Sequence seq(ctx.device());
    yb.poison(seq);
    record_get_rows(ctx, seq, w, uint32_t(ids.size()), ib.range(), yb.range(), stride);
    seq.run();
    const auto got = yb.floats(ctx);
    for (size_t t = 0; t < ids.size(); ++t) {
      CAPTURE(t);
      std::vector<float> want(cols, 0.0f);
      if (ids[t] < rows) std::copy_n(deq.begin() + size_t(ids[t]) * cols, cols, want.begin());
      // Bit-exact up to FMA contraction of y = d * q + m style expressions.
      const auto row = std::span<const float>(got).subspan(t * stride, cols);
      CHECK(rel_l2(row, std::span<const float>(want)) < 1e-6);
      CHECK(std::isnan(got[t * stride + cols]));  // the stride gap stays poisoned
    }
  }
}
