// The dense matvec's fused modes against the double-precision reference: the gated activation of
// a [gate | up] weight (silu, GELU), the scale of the product or of the accumulated sum, and two
// matvecs of different widths and inputs in one dispatch (record_matvec_pair). Every weight type,
// odd shapes, every variant, outputs poisoned (gaps between strided rows must stay poisoned).
#include <doctest/doctest.h>

#include <cmath>

#include "runtime/reference/ops_ref.h"
#include "runtime/vk/sequence.h"
#include "tests/gpu_fixture.h"
#include "tests/matmul_test_util.h"
#include "tests/test_util.h"

using namespace vkmoe;
using namespace vkmoe::test;

namespace {

double act_ref(Glu g, double v) {
  if (g == Glu::gelu) return 0.5 * v * (1.0 + std::tanh(0.7978845608028654 * v * (1.0 + 0.044715 * v * v)));
  return v / (1.0 + std::exp(-v));
}

// The strided rows of got ([tokens, stride]) against want ([tokens, n]); the gaps stay poisoned.
void check_rows(std::span<const float> got, std::span<const double> want, uint32_t tokens, uint32_t n, uint32_t stride,
                double tol) {
  std::vector<float> rows;
  for (uint32_t t = 0; t < tokens; ++t)
    for (uint32_t c = 0; c < stride; ++c) {
      if (c < n) rows.push_back(got[size_t(t) * stride + c]);
      else CHECK(std::isnan(got[size_t(t) * stride + c]));
    }
  CHECK(rel_l2(rows, want) < tol);
}

std::vector<std::string> vec_variants(Context& ctx, GgmlType type) {
  std::vector<std::string> names;
  for (const auto* v : ctx.pipelines().supported_variants(matmul_kernel_name("matvec", type))) names.push_back(v->name);
  return names;
}

}  // namespace

TEST_CASE_FIXTURE(GpuTest, "matvec: silu and GELU of [gate | up] fused, every type and variant, with and without a norm") {
  for (GgmlType type : kTypes) {
    CAPTURE(ggml_type_name(type));
    const uint32_t F = 37, cols = test_cols(type), ys = F + 3;
    TestWeight tw(ctx, type, 2 * F, cols, 12);
    for (Glu glu : {Glu::silu, Glu::gelu}) {
      for (uint32_t tokens : {1u, 5u, 8u}) {
        const bool norm = tokens == 5;
        CAPTURE(int(glu));
        CAPTURE(tokens);
        auto x = random_floats(size_t(tokens) * cols, -2.0f, 2.0f);
        const auto nw = random_floats(cols);
        std::vector<float> xin = x;
        if (norm) {
          const auto xn = rms_norm_ref(x, nw, tokens, 1, cols, 1e-5);
          xin.assign(xn.begin(), xn.end());
        }
        const auto gu = matmul_ref(tw.deq, xin, 2 * F, cols, tokens);
        std::vector<double> want(size_t(tokens) * F);
        for (uint32_t t = 0; t < tokens; ++t)
          for (uint32_t r = 0; r < F; ++r)
            want[t * F + r] = act_ref(glu, gu[t * 2 * F + r]) * gu[t * 2 * F + F + r];
        GpuBuf xb(ctx, x), nb(ctx, nw);
        for (const std::string& v : vec_variants(ctx, type)) {
          CAPTURE(v);
          GpuBuf yb(ctx, size_t(tokens) * ys);
          Sequence seq(ctx.device());
          yb.poison(seq);
          MatmulOptions o{.y_stride = ys, .glu = glu, .variant = v};
          if (norm) o.norm = NormPrologue{nb.range(), 1e-5f};
          record_matmul(ctx, seq, tw.w, tokens, xb.range(), yb.range(), o);
          seq.run();
          check_rows(yb.floats(ctx), want, tokens, F, ys, tolerance(type));
        }
      }
    }
  }
  // Odd rows, the tiled path or more than MM_VEC_MAX_T tokens are refused.
  TestWeight odd(ctx, GgmlType::F32, 7, 16);
  GpuBuf xb(ctx, size_t(16 * 9)), yb(ctx, size_t(8 * 9));
  Sequence seq(ctx.device());
  CHECK_THROWS_AS(record_matmul(ctx, seq, odd.w, 1, xb.range(), yb.range(), {.glu = Glu::silu}), std::invalid_argument);
  TestWeight even(ctx, GgmlType::F32, 8, 16);
  CHECK_THROWS_AS(record_matmul(ctx, seq, even.w, 9, xb.range(), yb.range(), {.glu = Glu::silu}), std::invalid_argument);
  CHECK_THROWS_AS(record_matmul(ctx, seq, even.w, 2, xb.range(), yb.range(), {.glu = Glu::gelu, .path = MatmulPath::tiled}),
                  std::invalid_argument);
}

TEST_CASE_FIXTURE(GpuTest, "matmul: the product or the accumulated sum scaled, matrix-vector and tiled") {
  const float s = -0.7071f;
  for (GgmlType type : {GgmlType::F32, GgmlType::Q4_K, GgmlType::Q6_K}) {
    for (uint32_t tokens : {1u, 3u, 37u}) {
      for (bool sum : {false, true}) {
        for (bool accumulate : {false, true}) {
          if (sum && !accumulate) continue;
          CAPTURE(ggml_type_name(type));
          CAPTURE(tokens);
          CAPTURE(sum);
          CAPTURE(accumulate);
          const uint32_t rows = 29, cols = test_cols(type);
          TestWeight tw(ctx, type, rows, cols, 4);
          const auto x = random_floats(size_t(tokens) * cols), y0 = random_floats(size_t(tokens) * rows);
          const auto wx = matmul_ref(tw.deq, x, rows, cols, tokens);
          std::vector<double> want(wx.size());
          for (size_t i = 0; i < want.size(); ++i)
            want[i] = !accumulate ? s * wx[i] : sum ? (y0[i] + wx[i]) * s : y0[i] + s * wx[i];
          GpuBuf xb(ctx, x), yb(ctx, y0);
          Sequence seq(ctx.device());
          record_matmul(ctx, seq, tw.w, tokens, xb.range(), yb.range(), {.accumulate = accumulate, .scale = s, .scale_sum = sum});
          seq.run();
          CHECK(rel_l2(yb.floats(ctx), want) < tolerance(type));
        }
      }
    }
  }
  TestWeight tw(ctx, GgmlType::F32, 4, 8);
  GpuBuf xb(ctx, size_t(8)), yb(ctx, size_t(4));
  Sequence seq(ctx.device());
  CHECK_THROWS_AS(record_matmul(ctx, seq, tw.w, 1, xb.range(), yb.range(), {.scale = 2.0f, .scale_sum = true}),
                  std::invalid_argument);
  CHECK_THROWS_AS(record_matmul(ctx, seq, tw.w, 1, xb.range(), yb.range(), {.scale = 0.0f}), std::invalid_argument);
}

namespace {

// Two matvecs reading one fused row [a's x | gap | b's x | tail] per token, norm weights [a's | gap
// | b's] in one buffer, y apart and strided.
struct PairCase {
  GgmlType type;
  uint32_t rows_a, cols_a, rows_b, cols_b;
  uint32_t gap;  // floats between a's x and b's x in the row (odd: b's x is not vec4-aligned)
  bool norm;
};

void check_pair(Context& ctx, const PairCase& c, uint32_t tokens) {
  TestWeight wa(ctx, c.type, c.rows_a, c.cols_a, 12), wb(ctx, c.type, c.rows_b, c.cols_b, 4);
  const uint32_t xb_at = c.cols_a + c.gap, xs = xb_at + c.cols_b + 2, ysa = c.rows_a + 1, ysb = c.rows_b + 3;
  const auto row = random_floats(size_t(tokens) * xs, -2.0f, 2.0f);
  const uint32_t nb_at = c.cols_a + c.gap % 4;  // a's norm weight, then b's
  const auto nw = random_floats(nb_at + c.cols_b);
  std::vector<float> xa, xb;
  for (uint32_t t = 0; t < tokens; ++t) {
    xa.insert(xa.end(), row.begin() + size_t(t) * xs, row.begin() + size_t(t) * xs + c.cols_a);
    xb.insert(xb.end(), row.begin() + size_t(t) * xs + xb_at, row.begin() + size_t(t) * xs + xb_at + c.cols_b);
  }
  const auto normed = [&](const std::vector<float>& x, uint32_t at, uint32_t cols) {
    if (!c.norm) return x;
    const auto d = rms_norm_ref(x, std::span<const float>(nw).subspan(at, cols), tokens, 1, cols, 1e-5);
    return std::vector<float>(d.begin(), d.end());
  };
  const auto ref_a = matmul_ref(wa.deq, normed(xa, 0, c.cols_a), c.rows_a, c.cols_a, tokens);
  const auto ref_b = matmul_ref(wb.deq, normed(xb, nb_at, c.cols_b), c.rows_b, c.cols_b, tokens);
  GpuBuf xbuf(ctx, row), nbuf(ctx, nw);
  const BufferRange x = xbuf.range();
  for (const std::string& v : vec_variants(ctx, c.type)) {
    CAPTURE(v);
    GpuBuf ya(ctx, size_t(tokens) * ysa), yb(ctx, size_t(tokens) * ysb);
    Sequence seq(ctx.device());
    ya.poison(seq);
    yb.poison(seq);
    MatvecProblem a{&wa.w, x, ya.range(), xs, ysa}, b{&wb.w, {x.buffer, x.offset + xb_at * 4ull, x.size - xb_at * 4ull},
                                                      yb.range(), xs, ysb};
    if (c.norm) {
      a.norm = NormPrologue{nbuf.range(0, c.cols_a * 4ull), 1e-5f};
      b.norm = NormPrologue{nbuf.range(nb_at * 4ull, c.cols_b * 4ull), 1e-5f};
    }
    REQUIRE(record_matvec_pair(ctx, seq, tokens, a, b, v));
    seq.run();
    check_rows(ya.floats(ctx), ref_a, tokens, c.rows_a, ysa, tolerance(c.type));
    check_rows(yb.floats(ctx), ref_b, tokens, c.rows_b, ysb, tolerance(c.type));
  }
}

}  // namespace

TEST_CASE_FIXTURE(GpuTest, "matvec pair: two problems of different widths, rows and inputs in one dispatch") {
  for (GgmlType type : kTypes) {
    const uint32_t block = ggml_type_info(uint32_t(type))->block_elems;
    const uint32_t ca = test_cols(type), cb = block == 1 ? 45 : ca + (block == 32 ? 64 : 256);
    // b wider and narrower than a, odd rows, b's x at an odd float offset or a vec4 one.
    const PairCase cases[] = {{type, 37, ca, 21, cb, 3, true}, {type, 9, cb, 44, ca, 4, false}};
    for (const PairCase& c : cases) {
      for (uint32_t tokens : {1u, 3u, 8u}) {
        CAPTURE(ggml_type_name(type));
        CAPTURE(c.cols_a);
        CAPTURE(c.cols_b);
        CAPTURE(tokens);
        check_pair(ctx, c, tokens);
      }
    }
  }
}

TEST_CASE_FIXTURE(GpuTest, "matvec pair: what one dispatch cannot take is left to the caller, untouched") {
  TestWeight q4(ctx, GgmlType::Q4_K, 16, 256), f16(ctx, GgmlType::F16, 16, 256), f32(ctx, GgmlType::F32, 16, 256);
  // F32 in two pieces of 8 rows.
  const uint64_t piece = 8 * 1024 + ctx.device().caps().storage_buffer_alignment + 8;
  TestWeight split(ctx, GgmlType::F32, 16, 256, 0, piece);
  REQUIRE(split.w.pieces.size() == 2);
  GpuBuf x(ctx, random_floats(9 * 512)), other(ctx, random_floats(9 * 256)), ya(ctx, size_t(9 * 16)), yb(ctx, size_t(9 * 16));
  const BufferRange x_b = x.range(256 * 4);
  Sequence seq(ctx.device());
  ya.poison(seq);
  yb.poison(seq);
  const auto pair = [&](const DenseWeight& a, const DenseWeight& b, uint32_t tokens, BufferRange xa, BufferRange xb) {
    return record_matvec_pair(ctx, seq, tokens, {&a, xa, ya.range(), 512}, {&b, xb, yb.range(), 512});
  };
  CHECK_FALSE(pair(q4.w, f16.w, 1, x.range(), x_b));            // types differ
  CHECK_FALSE(pair(f32.w, split.w, 1, x.range(), x_b));         // b in two pieces
  CHECK_FALSE(pair(f32.w, f32.w, 9, x.range(), x_b));           // more than MM_VEC_MAX_T tokens
  CHECK_FALSE(pair(f32.w, f32.w, 1, x_b, x.range()));           // b's x before a's
  CHECK_FALSE(record_matvec_pair(ctx, seq, 1, {&f32.w, x.range(), ya.range()}, {&f32.w, other.range(), yb.range()}));
  seq.run();
  for (const GpuBuf* y : {&ya, &yb})
    for (float v : y->floats(ctx)) CHECK(std::isnan(v));
  // A y over the other's x is refused.
  CHECK_THROWS_AS(record_matvec_pair(ctx, seq, 1, {&f32.w, x.range(), ya.range()}, {&f32.w, x_b, x.range(0, 64)}),
                  std::invalid_argument);
}
