// Dense matmul (matrix-vector and tiled) and get_rows on every GGUF weight type against the
// double-precision reference on the same dequantized weights, including weights split over
// several bindings.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "runtime/kernels/matmul.h"
#include "runtime/vk/caps.h"
#include "shaders/ops_params.h"
#include "runtime/quant/quant.h"
#include "runtime/reference/ops_ref.h"
#include "runtime/vk/sequence.h"
#include "tests/gpu_fixture.h"
#include "tests/matmul_test_util.h"
#include "tests/ops_test_util.h"
#include "tests/test_util.h"

using namespace vkmoe;
using namespace vkmoe::test;

namespace {

std::vector<float> run_matmul(Context& ctx, const TestWeight& tw, std::span<const float> x, uint32_t tokens,
                              MatmulPath path, const std::string& variant) {
  GpuBuf xb(ctx, x), yb(ctx, size_t(tokens) * tw.w.rows);
  Sequence seq(ctx.device());
  yb.poison(seq);
  record_matmul(ctx, seq, tw.w, tokens, xb.range(), yb.range(), {.path = path, .variant = variant});
  seq.run();
  return yb.floats(ctx);
}

// Every variant of the matrix-vector kernel against the reference, at each token count.
void check_vec_variants(Context& ctx, const TestWeight& tw, GgmlType type, std::initializer_list<uint32_t> counts) {
  const uint32_t rows = tw.w.rows, cols = tw.w.cols;
  for (uint32_t tokens : counts) {
    auto x = random_floats(size_t(tokens) * cols);
    auto ref = matmul_ref(tw.deq, x, rows, cols, tokens);
    for (const auto* v : ctx.pipelines().supported_variants(matmul_kernel_name("matvec", type))) {
      CAPTURE(v->name);
      CAPTURE(tokens);
      CHECK(rel_l2(run_matmul(ctx, tw, x, tokens, MatmulPath::vec, v->name), ref) < tolerance(type));
    }
  }
}

}  // namespace

TEST_CASE_FIXTURE(GpuTest, "matmul: every weight type, matrix-vector and tiled, match the reference") {
  for (GgmlType type : kTypes) {
    CAPTURE(ggml_type_name(type));
    const uint32_t rows = 37, cols = test_cols(type);
    TestWeight tw(ctx, type, rows, cols, 12);
    check_vec_variants(ctx, tw, type, {1u, 5u, 8u});
    for (uint32_t tokens : {3u, 37u}) {
      CAPTURE(tokens);
      auto x = random_floats(size_t(tokens) * cols);
      CHECK(rel_l2(run_matmul(ctx, tw, x, tokens, MatmulPath::tiled, ""), matmul_ref(tw.deq, x, rows, cols, tokens)) <
            tolerance(type));
    }
  }
}

TEST_CASE_FIXTURE(GpuTest, "matmul: plain float rows 16-byte aligned take the unit path, with and without a tail") {
  // Rows at offset 0 with 16-byte row lengths set W_VEC4: whole units of 32 as uvec4 loads, then
  // dequant8 on the rest (104 = 3 units + 1 chunk; 128 = 4 units; 40 = 1 unit + 1 chunk).
  for (GgmlType type : {GgmlType::F32, GgmlType::F16, GgmlType::BF16}) {
    for (uint32_t cols : {104u, 128u, 40u}) {
      CAPTURE(ggml_type_name(type));
      CAPTURE(cols);
      const uint32_t rows = 37;
      TestWeight tw(ctx, type, rows, cols, 0);
      check_vec_variants(ctx, tw, type, {1u, 5u});
    }
  }
}

TEST_CASE_FIXTURE(GpuTest, "matmul: Q8_0 / Q4_0 / Q6_K rows 16-byte aligned read blocks through uvec4 loads") {
  // 8 blocks per row of 34 (Q8_0), 18 (Q4_0) or 210 (Q6_K) bytes: 16-byte-aligned rows whose
  // blocks start at every even offset 0..14 into a uvec4 (load_words' W_VEC4 path).
  const std::pair<GgmlType, uint32_t> cases[] = {{GgmlType::Q8_0, 256}, {GgmlType::Q4_0, 256}, {GgmlType::Q6_K, 2048}};
  for (const auto& [type, cols] : cases) {
    CAPTURE(ggml_type_name(type));
    TestWeight tw(ctx, type, 37, cols, 0);
    REQUIRE(tw.w.row_bytes % 16 == 0);
    check_vec_variants(ctx, tw, type, {1u, 5u});
  }
}

TEST_CASE_FIXTURE(GpuTest, "matmul: rows of any length read blocks through uvec4 windows when the binding is padded") {
  // Rows of 102 (Q8_0), 54 (Q4_0), 420 and 630 (Q6_K) bytes at offsets 4 and 12: block starts at
  // every even offset into a uvec4, and the last row's last uvec4 past the row's end, inside the
  // binding only because make_dense_weight pads it to 16 bytes (16 spare bytes in the buffer).
  const std::pair<GgmlType, uint32_t> cases[] = {
      {GgmlType::Q8_0, 96}, {GgmlType::Q4_0, 96}, {GgmlType::Q6_K, 512}, {GgmlType::Q6_K, 768}};
  for (const auto& [type, cols] : cases) {
    for (uint64_t offset : {4u, 12u}) {
      CAPTURE(ggml_type_name(type));
      CAPTURE(cols);
      CAPTURE(offset);
      TestWeight tw(ctx, type, 37, cols, offset, 0, 16);
      const MatmulShape shape = matmul_shape(tw.w, 1, cols, false, MatmulPath::vec);
      REQUIRE(shape.ranges_padded);
      REQUIRE_FALSE(shape.rows_16_aligned);
      REQUIRE(choose_matmul(ctx.device().caps(), shape).spec.w_vec4);
      check_vec_variants(ctx, tw, type, {1u, 5u});
    }
  }
  // Without spare bytes the binding stays as long as the tensor and the word path is taken.
  TestWeight tight(ctx, GgmlType::Q6_K, 3, 256, 4);
  CHECK_FALSE(matmul_shape(tight.w, 1, 256, false, MatmulPath::vec).ranges_padded);
  check_vec_variants(ctx, tight, GgmlType::Q6_K, {1u});
}

TEST_CASE_FIXTURE(GpuTest, "matmul: norm prologue (RMS, LayerNorm, bias) and bias / softcap epilogue match the reference") {
  struct Case {
    GgmlType type;
    uint32_t tokens;
    MatmulPath path;
    uint32_t pad = 0;     // x_stride = cols + pad (odd: x is not read as vec4)
    uint64_t offset = 4;  // of the weight: 0 gives 16-byte-aligned K-quant rows (uvec4 loads)
    bool center = false, norm_bias = false;  // LayerNorm; a norm bias
    bool out_bias = false, accumulate = false;
    float softcap = 0.0f;
  };
  // Odd F32 columns on the plain path, Q4_K on the unit path, both variants at 1 token, 3
  // tokens (one with an odd x stride), and the tiled kernel over two token tiles (F32: 97
  // columns, a partial last step); each norm mode, the epilogue's bias, accumulate and softcap.
  const Case cases[] = {{GgmlType::F32, 1, MatmulPath::vec},
                        {GgmlType::Q4_K, 1, MatmulPath::vec},
                        {GgmlType::Q4_K, 3, MatmulPath::vec},
                        {GgmlType::Q4_K, 3, MatmulPath::vec, 5},
                        {GgmlType::Q4_K, 1, MatmulPath::vec, 0, 0},
                        {GgmlType::Q5_K, 2, MatmulPath::vec, 0, 0},
                        {GgmlType::Q4_K, 37, MatmulPath::tiled},
                        {GgmlType::F32, 1, MatmulPath::vec, 0, 4, true},
                        {GgmlType::F32, 3, MatmulPath::vec, 0, 4, false, true, true},
                        {GgmlType::Q4_K, 1, MatmulPath::vec, 0, 4, true, true, true, true},
                        {GgmlType::Q4_K, 3, MatmulPath::vec, 5, 4, true, true},
                        {GgmlType::Q8_0, 1, MatmulPath::vec, 0, 0, true, true, false, false, 2.0f},
                        {GgmlType::Q5_K, 2, MatmulPath::vec, 0, 0, false, true, true},
                        {GgmlType::Q4_K, 37, MatmulPath::tiled, 0, 4, true, true, true, true},
                        {GgmlType::F32, 19, MatmulPath::tiled, 3, 4, true, false, true, false, 1.5f},
                        {GgmlType::F32, 1, MatmulPath::vec, 0, 4, false, false, true, false, 1.5f}};
  for (const Case& c : cases) {
    const uint32_t rows = 37, cols = test_cols(c.type);
    CAPTURE(ggml_type_name(c.type));
    CAPTURE(c.tokens);
    CAPTURE(c.center);
    CAPTURE(c.norm_bias);
    CAPTURE(c.out_bias);
    CAPTURE(c.softcap);
    TestWeight tw(ctx, c.type, rows, cols, c.offset);
    auto x = random_floats(size_t(c.tokens) * cols);
    for (float& v : x) v = v * 3.0f + 2.0f;  // the norm and its mean must matter
    const auto nw = random_floats(cols), nb = random_floats(cols), ob = random_floats(rows), y0 = random_floats(size_t(c.tokens) * rows);
    const bool norm = c.center || c.norm_bias || (!c.out_bias && c.softcap == 0);  // the epilogue also alone
    const float eps = 1e-5f;
    const auto xn = norm ? norm_ref(x, nw, c.norm_bias ? std::span<const float>(nb) : std::span<const float>{}, c.tokens, 1, cols, eps, c.center)
                         : std::vector<double>(x.begin(), x.end());
    const uint32_t xs = cols + c.pad;
    std::vector<float> xp(size_t(c.tokens) * xs, 1e30f);  // the padding must not be read
    for (uint32_t t = 0; t < c.tokens; ++t) std::copy_n(x.begin() + size_t(t) * cols, cols, xp.begin() + size_t(t) * xs);
    auto ref = matmul_ref(tw.deq, std::vector<float>(xn.begin(), xn.end()), rows, cols, c.tokens);
    for (size_t i = 0; i < ref.size(); ++i) {
      if (c.out_bias) ref[i] += ob[i % rows];
      if (c.softcap > 0) ref[i] = c.softcap * std::tanh(ref[i] / c.softcap);
      if (c.accumulate) ref[i] += y0[i];
    }
    GpuBuf xb(ctx, xp), nwb(ctx, nw), nbb(ctx, nb), obb(ctx, ob);
    const auto kernel = matmul_kernel_name(c.path == MatmulPath::vec ? "matvec" : "matmul", c.type);
    for (const auto* v : ctx.pipelines().supported_variants(kernel)) {
      if (c.tokens > 1 && v != ctx.pipelines().supported_variants(kernel)[0]) continue;
      CAPTURE(v->name);
      GpuBuf yb(ctx, y0);
      Sequence seq(ctx.device());
      if (!c.accumulate) yb.poison(seq);
      MatmulOptions o{.x_stride = xs, .accumulate = c.accumulate, .path = c.path, .variant = v->name};
      if (norm) o.norm = NormPrologue{nwb.range(), eps, c.norm_bias ? nbb.range() : BufferRange{}, c.center};
      if (c.out_bias) o.bias = obb.range();
      o.softcap = c.softcap;
      record_matmul(ctx, seq, tw.w, c.tokens, xb.range(), yb.range(), o);
      seq.run();
      CHECK(rel_l2(yb.floats(ctx), ref) < tolerance(c.type));
    }
  }
  GpuBuf buf(ctx, size_t(512));
  TestWeight tw(ctx, GgmlType::F32, 8, 64);
  Sequence seq(ctx.device());
  CHECK_THROWS_WITH_AS(record_matmul(ctx, seq, tw.w, 1, buf.range(0, 256), buf.range(128, 256),
                                     {.norm = NormPrologue{buf.range(), 1e-6f}}),
                       doctest::Contains("must not overlap x"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(record_matmul(ctx, seq, tw.w, 1, buf.range(0, 256), buf.range(256, 32), {.bias = buf.range(0, 16)}),
                       doctest::Contains("bias"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(record_matmul(ctx, seq, tw.w, 1, buf.range(0, 256), buf.range(256, 32), {.softcap = -1.0f}),
                       doctest::Contains("softcap"), std::invalid_argument);
}

TEST_CASE_FIXTURE(GpuTest, "matmul: 300-token prefill, accumulate into a strided residual stream") {
  const uint32_t rows = 70, cols = 256, tokens = 300, y_stride = 80;
  TestWeight tw(ctx, GgmlType::Q4_K, rows, cols);
  auto x = random_floats(size_t(tokens) * cols);
  auto y0 = random_floats(size_t(tokens) * y_stride);
  GpuBuf xb(ctx, x), yb(ctx, y0);
  Sequence seq(ctx.device());
  record_matmul(ctx, seq, tw.w, tokens, xb.range(), yb.range(), {.y_stride = y_stride, .accumulate = true});
  seq.run();
  auto got = yb.floats(ctx);
  auto ref = matmul_ref(tw.deq, x, rows, cols, tokens);
  std::vector<float> got_rows;
  std::vector<double> want;
  for (uint32_t t = 0; t < tokens; ++t)
    for (uint32_t c = 0; c < y_stride; ++c) {
      if (c < rows) {
        got_rows.push_back(got[t * y_stride + c]);
        want.push_back(ref[t * rows + c] + y0[t * y_stride + c]);
      } else {
        CHECK(got[t * y_stride + c] == y0[t * y_stride + c]);  // past the row: untouched
      }
    }
  CHECK(rel_l2(got_rows, want) < 1e-4);
}

TEST_CASE_FIXTURE(GpuTest, "matmul and get_rows: a weight split over 4 bindings") {
  for (GgmlType type : {GgmlType::Q6_K, GgmlType::Q8_0, GgmlType::F16}) {
    CAPTURE(ggml_type_name(type));
    const uint32_t rows = 37, cols = test_cols(type);
    const uint64_t row_bytes = ggml_row_bytes(type, cols);
    // Room for 12 rows per piece (with the alignment slack): pieces of 12, 12, 12 and 1 rows.
    const uint64_t piece = 12 * row_bytes + ctx.device().caps().storage_buffer_alignment + 8;
    TestWeight tw(ctx, type, rows, cols, 20, piece);
    REQUIRE(tw.w.pieces.size() == 4);
    for (uint32_t tokens : {2u, 33u}) {
      CAPTURE(tokens);
      auto x = random_floats(size_t(tokens) * cols);
      CHECK(rel_l2(run_matmul(ctx, tw, x, tokens, MatmulPath::automatic, ""), matmul_ref(tw.deq, x, rows, cols, tokens)) <
            tolerance(type));
    }
    std::vector<uint32_t> ids = {36, 0, 11, 12, 13, 24, 35, 12};
    GpuBuf ib(ctx, ids), yb(ctx, ids.size() * cols);
    Sequence seq(ctx.device());
    yb.poison(seq);
    record_get_rows(ctx, seq, tw.w, uint32_t(ids.size()), ib.range(), yb.range());
    seq.run();
    auto got = yb.floats(ctx);
    for (size_t t = 0; t < ids.size(); ++t)
      CHECK(std::equal(got.begin() + t * cols, got.begin() + (t + 1) * cols, tw.deq.begin() + ids[t] * cols));
  }
  // More than 4 pieces is refused by name.
  GpuBuf big(ctx, 4096);
  CHECK_THROWS_WITH(make_dense_weight(ctx.device(), big.buffer, 0, GgmlType::F32, 64, 64, 1024),
                    doctest::Contains("dense weight"));
}

TEST_CASE_FIXTURE(GpuTest, "get_rows: every type dequantizes exactly as the CPU, bad ids give zeros") {
  for (GgmlType type : kTypes) {
    CAPTURE(ggml_type_name(type));
    const uint32_t rows = 19, cols = test_cols(type);
    TestWeight tw(ctx, type, rows, cols, 4);
    std::vector<uint32_t> ids = {3, 18, 0, 3, 19, 0xFFFFFFFFu, 7};
    const uint32_t stride = cols + 5;
    GpuBuf ib(ctx, ids), yb(ctx, ids.size() * stride);
    Sequence seq(ctx.device());
    yb.poison(seq);
    record_get_rows(ctx, seq, tw.w, uint32_t(ids.size()), ib.range(), yb.range(), stride);
    seq.run();
    auto got = yb.floats(ctx);
    for (size_t t = 0; t < ids.size(); ++t) {
      CAPTURE(t);
      std::vector<float> want(cols, 0.0f);
      if (ids[t] < rows) std::copy(tw.deq.begin() + ids[t] * cols, tw.deq.begin() + (ids[t] + 1) * cols, want.begin());
      // Bit-exact up to FMA contraction in the shader's d * scale * q.
      CHECK(rel_l2(std::span<const float>(got).subspan(t * stride, cols), std::span<const float>(want)) < 1e-6);
      CHECK(std::isnan(got[t * stride + cols]));  // the stride gap stays poisoned
    }
    // With a scale (Granite's embedding scale) every value is multiplied by it.
    Sequence scaled(ctx.device());
    record_get_rows(ctx, scaled, tw.w, uint32_t(ids.size()), ib.range(), yb.range(), stride, -2.5f);
    scaled.run();
    const auto got_scaled = yb.floats(ctx);
    for (size_t t = 0; t < ids.size(); ++t)
      for (uint32_t c = 0; c < cols; ++c) CHECK(got_scaled[t * stride + c] == doctest::Approx(-2.5 * got[t * stride + c]));
  }
}

TEST_CASE("choose_matmul: path, variant shape and uvec4 loads from fake device caps, no GPU") {
  const VkSubgroupFeatureFlags arith = VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_ARITHMETIC_BIT;
  for (uint32_t sg : {8u, 32u, 64u}) {
    for (bool with_arith : {true, false}) {
      CAPTURE(sg);
      CAPTURE(with_arith);
      DeviceCaps caps;
      caps.subgroup_size = sg;
      caps.subgroup_ops = with_arith ? arith : VkSubgroupFeatureFlags(VK_SUBGROUP_FEATURE_BASIC_BIT);
      caps.max_workgroup_invocations = sg == 64 ? 1024 : 256;
      MatmulShape s{GgmlType::Q4_K, 1000, 512, 1, 512, 288, 1, true, true};
      // Decode: one subgroup (or, portable, one invocation) per 2 rows, no token loop.
      MatmulChoice c = choose_matmul(caps, s);
      CHECK(c.path == MatmulPath::vec);
      CHECK(c.subgroup == with_arith);
      CHECK(c.spec.wg == (with_arith ? 4 * sg : kVecPortableWg));
      CHECK(c.spec.rows_per_wg == (with_arith ? kVecGroups : kVecPortableWg) * kVecRowsPerGroup);
      CHECK(c.spec.max_t == 1);
      CHECK(c.row_groups == (1000 + c.spec.rows_per_wg - 1) / c.spec.rows_per_wg);
      CHECK(c.spec.w_vec4);
      CHECK(c.spec.x_vec4);
      // 2..8 tokens share one pipeline (TOKENS = MM_VEC_MAX_T); 9 go tiled, 8 tokens per workgroup row.
      s.tokens = 5;
      CHECK(choose_matmul(caps, s).spec.max_t == MM_VEC_MAX_T);
      s.tokens = 37;
      c = choose_matmul(caps, s);
      CHECK(c.path == MatmulPath::tiled);
      CHECK_FALSE(c.subgroup);  // the tiled kernel has one variant
      CHECK(c.spec.wg == std::clamp<uint32_t>(4 * sg, 32, 256));
      CHECK(c.token_groups == 5);
      CHECK(c.row_groups == (1000 + c.spec.wg * MM_GEMM_ROWS - 1) / (c.spec.wg * MM_GEMM_ROWS));
      s.path = MatmulPath::vec;  // forced vec past its token limit
      CHECK_THROWS_AS(choose_matmul(caps, s), std::invalid_argument);
      // A forced portable variant on a device with subgroups takes the portable shape.
      s = MatmulShape{GgmlType::F16, 64, 104, 1, 105, 208, 3};
      s.subgroup = false;
      c = choose_matmul(caps, s);
      CHECK(c.spec.wg == kVecPortableWg);
      CHECK(c.spec.pieces == 3);
      CHECK_FALSE(c.spec.x_vec4);  // x stride 105
      CHECK_FALSE(c.spec.w_vec4);
    }
  }
  // A CPU device (lavapipe) takes the portable matvec even with subgroup arithmetic.
  DeviceCaps cpu;
  cpu.type = VK_PHYSICAL_DEVICE_TYPE_CPU;
  cpu.subgroup_size = 8;
  cpu.subgroup_ops = arith;
  cpu.max_workgroup_invocations = 1024;
  const MatmulChoice on_cpu = choose_matmul(cpu, MatmulShape{GgmlType::Q6_K, 512, 512, 1, 512, 420, 1});
  CHECK_FALSE(on_cpu.subgroup);
  CHECK(on_cpu.spec.wg == kVecPortableWg);
  CHECK(on_cpu.row_groups == 512 / (kVecPortableWg * kVecRowsPerGroup));
  // uvec4 weight loads: Q4_K/Q5_K and plain floats index uvec4s (16-byte-aligned rows needed);
  // the other block types read a window at any even offset (a padded binding is enough).
  DeviceCaps caps;
  caps.subgroup_size = 32;
  caps.subgroup_ops = arith;
  caps.max_workgroup_invocations = 1024;
  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q8_0,
                     GgmlType::Q4_0, GgmlType::Q6_K, GgmlType::IQ4_XS}) {
    CAPTURE(ggml_type_name(t));
    const bool window = t != GgmlType::F32 && t != GgmlType::F16 && t != GgmlType::BF16 && t != GgmlType::Q4_K &&
                        t != GgmlType::Q5_K;
    CHECK(matmul_window_type(t) == window);
    for (bool aligned : {false, true})
      for (bool padded : {false, true}) {
        MatmulShape s{t, 16, 256, 1, 256, 210, 1, aligned, padded};
        CHECK(choose_matmul(caps, s).spec.w_vec4 == (aligned || (window && padded)));
      }
  }
}
