// The shaders' dequantization of the types of issue 11 (shaders/dequant_ext.glsl) through the
// embedding lookup, against the CPU codecs: random valid blocks, an odd number of rows at
// 2-byte (MXFP4: any) row offsets, out-of-range ids. One get_rows pipeline per type.
//
// The grid types' shaders index constant tables, which lavapipe (Mesa 22.3) compiles slowly:
// seconds for IQ2_XXS / IQ3_XXS, about a minute for IQ2_S and IQ3_S, minutes for IQ1_S / IQ1_M.
// Those run only with VKMOE_SLOW_TESTS=1 (real GPUs compile them at once); see
// docs/design.md "Quantization types".
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "runtime/gguf/gguf_reader.h"
#include "runtime/kernels/matmul.h"
#include "runtime/model/model.h"
#include "runtime/model/model_config.h"
#include "runtime/model/synthetic_model.h"
#include "runtime/quant/quant.h"
#include "runtime/vk/sequence.h"
#include "tests/gpu_fixture.h"
#include "tests/ops_test_util.h"
#include "tests/test_util.h"

using namespace vkmoe;
using namespace vkmoe::test;

namespace {

struct NewType {
  GgmlType type;
  std::vector<int> halves;  // byte offsets of the block's f16 scales, set to sane values
};

const NewType kNewTypes[] = {
    {GgmlType::Q4_1, {0, 2}},   {GgmlType::Q5_0, {0}},    {GgmlType::Q5_1, {0, 2}},  {GgmlType::MXFP4, {}},
    {GgmlType::IQ4_NL, {0}},    {GgmlType::IQ4_XS, {0}},  {GgmlType::Q2_K, {80, 82}}, {GgmlType::Q3_K, {108}},
    {GgmlType::IQ2_XXS, {0}},   {GgmlType::IQ2_XS, {0}},  {GgmlType::IQ2_S, {0}},    {GgmlType::IQ3_XXS, {0}},
    {GgmlType::IQ3_S, {0}},     {GgmlType::IQ1_S, {0}},   {GgmlType::IQ1_M, {}},
};

uint16_t random_half() {
  std::normal_distribution<float> nd(0.0f, 0.05f);
  return f32_to_f16(nd(rng()));
}

// rows x cols of random blocks at byte `offset` of the returned buffer (rest 0xAB). Every byte
// pattern is a valid block once its scales are finite: grid indices cover whole tables.
std::vector<uint8_t> random_rows(const NewType& nt, uint32_t rows, uint32_t cols, uint64_t offset) {
  const auto info = *ggml_type_info(uint32_t(nt.type));
  const uint64_t blocks = uint64_t(rows) * cols / info.block_elems;
  std::vector<uint8_t> bytes(offset + (blocks * info.block_bytes + 3) / 4 * 4, 0xAB);
  std::uniform_int_distribution<int> byte(0, 255);
  for (uint64_t b = 0; b < blocks; ++b) {
    uint8_t* p = bytes.data() + offset + b * info.block_bytes;
    for (uint32_t i = 0; i < info.block_bytes; ++i) p[i] = uint8_t(byte(rng()));
    for (int at : nt.halves) {
      const uint16_t h = random_half();
      std::memcpy(p + at, &h, 2);
    }
    if (nt.type == GgmlType::MXFP4) p[0] = uint8_t(std::uniform_int_distribution<int>(100, 140)(rng()));
    if (nt.type == GgmlType::IQ1_M) {  // d lives in the top nibbles of the four scale words
      const uint16_t h = random_half();
      for (int k = 0; k < 4; ++k) p[49 + 2 * k] = uint8_t((p[49 + 2 * k] & 0x0f) | ((h >> (4 * k)) & 15) << 4);
    }
  }
  return bytes;
}

bool slow_to_compile(GgmlType t) {
  switch (t) {
    case GgmlType::IQ2_XS: case GgmlType::IQ2_S: case GgmlType::IQ3_S: case GgmlType::IQ1_S: case GgmlType::IQ1_M:
      return true;
    default:
      return false;
  }
}

}  // namespace

TEST_CASE_FIXTURE(GpuTest, "get_rows: the types of issue 11 dequantize as the CPU codecs") {
  const char* slow = std::getenv("VKMOE_SLOW_TESTS");
  const bool all = slow && std::string(slow) == "1";
  for (const NewType& nt : kNewTypes) {
    if (!all && slow_to_compile(nt.type)) {
      MESSAGE(ggml_type_name(nt.type) << ": skipped (slow to compile on lavapipe; VKMOE_SLOW_TESTS=1 runs it)");
      continue;
    }
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

TEST_CASE_FIXTURE(GpuTest, "matmul refuses a type only the embedding lookup supports, naming it") {
  const NewType nt{GgmlType::Q3_K, {108}};
  const auto bytes = random_rows(nt, 4, 256, 0);
  GpuBuf wb(ctx, std::span<const uint8_t>(bytes));
  const DenseWeight w = make_dense_weight(ctx.device(), wb.buffer, 0, nt.type, 4, 256);
  GpuBuf xb(ctx, random_floats(256)), yb(ctx, 4);
  Sequence seq(ctx.device());
  CHECK_THROWS_WITH(record_matmul(ctx, seq, w, 1, xb.range(), yb.range()), doctest::Contains("q3_K"));
}

TEST_CASE_FIXTURE(GpuTest, "a model with kernel-unsupported or mixed gate/up types is refused naming file, tensor, type") {
  // F16 and BF16 rows take the same bytes: retyping one tensor in the header keeps the file valid.
  auto bytes = make_synthetic_model({.matrix_type = GgmlType::F16, .seed = 3}).to_bytes();
  auto retype = [&](std::vector<uint8_t> b, const std::string& name, GgmlType t) {
    const auto at = std::search(b.begin(), b.end(), name.begin(), name.end());
    REQUIRE(at != b.end());
    const size_t pos = size_t(at - b.begin()) + name.size();
    uint32_t dims;
    std::memcpy(&dims, &b[pos], 4);
    const uint32_t type = uint32_t(t);
    std::memcpy(&b[pos + 4 + 8 * dims], &type, 4);
    return b;
  };
  const auto mixed = retype(bytes, "blk.1.ffn_up_exps.weight", GgmlType::BF16);
  CHECK(load_model_config(GgufFile::from_memory(mixed, "mixed.gguf")).n_layer == 2);
  CHECK_THROWS_WITH(Model(ctx, GgufFile::from_memory(mixed, "mixed.gguf"), {.n_ctx = 16, .progress = false}),
                    doctest::Contains("mixed.gguf: 'blk.1.ffn_gate_exps.weight' is f16 and 'blk.1.ffn_up_exps.weight' is bf16"));

  const auto dir = shared_dir();
  const auto q3 = dir / "models" / "llamacpp" / "qwen3moe-Q3_K_M.gguf";
  if (dir.empty() || !std::filesystem::exists(q3)) return;
  CHECK_THROWS_WITH(Model(ctx, GgufFile::open(q3), {.n_ctx = 16, .progress = false}),
                    doctest::Contains("qwen3moe-Q3_K_M.gguf: tensor 'blk.0.attn_q.weight' has type q3_K"));
}
