// The dense transformer kernels against their double-precision CPU references: RMS norm and
// QK-norm, RoPE (both layouts, partial rotary, YaRN), the f16 KV cache (attention: attention_test.cpp),
// elementwise ops and argmax.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <cstring>

#include "runtime/kernels/transformer_ops.h"
#include "runtime/quant/half.h"
#include "runtime/reference/ops_ref.h"
#include "runtime/vk/sequence.h"
#include "tests/gpu_fixture.h"
#include "tests/ops_test_util.h"
#include "tests/test_util.h"

using namespace vkmoe;
using namespace vkmoe::test;

namespace {

std::vector<std::string> variants(Context& ctx, const char* kernel) {
  std::vector<std::string> v;
  for (const auto* s : ctx.pipelines().supported_variants(kernel)) v.push_back(s->name);
  return v;
}


}  // namespace

TEST_CASE_FIXTURE(GpuTest, "rms_norm: rows and per-head groups match the reference") {
  struct Case {
    uint32_t tokens, groups, n;
  };
  for (const auto& variant : variants(ctx, "rms_norm"))
    for (Case c : {Case{1, 1, 1000}, Case{300, 1, 67}, Case{7, 5, 72}, Case{3, 16, 128}}) {
      CAPTURE(variant);
      CAPTURE(c.tokens);
      CAPTURE(c.groups);
      CAPTURE(c.n);
      const size_t len = size_t(c.tokens) * c.groups * c.n;
      auto x = random_floats(len, -2.0f, 2.0f), w = random_floats(c.n, 0.5f, 1.5f);
      GpuBuf xb(ctx, x), wb(ctx, w), yb(ctx, len);
      Sequence seq(ctx.device());
      yb.poison(seq);
      RmsNormShape s{.tokens = c.tokens, .groups = c.groups, .n = c.n, .eps = 1e-5f};
      record_rms_norm(ctx, seq, s, xb.range(), wb.range(), yb.range(), {}, {}, variant);
      seq.run();
      CHECK(rel_l2(yb.floats(ctx), rms_norm_ref(x, w, c.tokens, c.groups, c.n, 1e-5)) < 1e-5);
    }
}

// LayerNorm (phimoe's norms are RMS + bias, DBRX's LayerNorm without): rows far from zero mean,
// so a one-pass E[a^2] - mean^2 variance would lose the digits the bound asks for.
TEST_CASE_FIXTURE(GpuTest, "rms_norm: LayerNorm and bias modes match the reference") {
  for (const auto& variant : variants(ctx, "rms_norm"))
    for (bool center : {true, false})
      for (bool with_bias : {true, false})
        for (uint32_t n : {67u, 300u}) {
          CAPTURE(variant);
          CAPTURE(center);
          CAPTURE(with_bias);
          CAPTURE(n);
          const uint32_t tokens = 5;
          auto x = random_floats(size_t(tokens) * n, 8.0f, 12.0f), w = random_floats(n, 0.5f, 1.5f);
          auto bias = with_bias ? random_floats(n, -1.0f, 1.0f) : std::vector<float>{};
          GpuBuf xb(ctx, x), wb(ctx, w), bb(ctx, with_bias ? bias : std::vector<float>{0.0f}), yb(ctx, x.size());
          Sequence seq(ctx.device());
          yb.poison(seq);
          RmsNormShape s{.tokens = tokens, .n = n, .eps = 1e-5f, .center = center};
          record_rms_norm(ctx, seq, s, xb.range(), wb.range(), yb.range(), {}, {}, variant,
                          with_bias ? bb.range() : BufferRange{});
          seq.run();
          CHECK(rel_l2(yb.floats(ctx), norm_ref(x, w, bias, tokens, 1, n, 1e-5, center)) < 1e-5);
        }
}

TEST_CASE_FIXTURE(GpuTest, "rms_norm: accumulate adds the normed rows into y (a post norm and its residual add)") {
  for (const auto& variant : variants(ctx, "rms_norm")) {
    CAPTURE(variant);
    const uint32_t T = 3, n = 301;
    auto h = random_floats(T * n, -3.0f, 3.0f), w = random_floats(n, 0.5f, 1.5f), x = random_floats(T * n);
    GpuBuf hb(ctx, h), wb(ctx, w), xb(ctx, x);
    Sequence seq(ctx.device());
    record_rms_norm(ctx, seq, {.tokens = T, .n = n, .eps = 1e-6f, .accumulate = true}, hb.range(), wb.range(), xb.range(), {}, {},
                    variant);
    seq.run();
    auto want = rms_norm_ref(h, w, T, 1, n, 1e-6);
    for (size_t i = 0; i < want.size(); ++i) want[i] += x[i];
    CHECK(rel_l2(xb.floats(ctx), want) < 1e-6);
    CHECK(hb.floats(ctx) == h);  // the input is not written
    Sequence bad(ctx.device());
    CHECK_THROWS_WITH_AS(record_rms_norm(ctx, bad, {.tokens = T, .n = n, .accumulate = true}, hb.range(), wb.range(), hb.range()),
                         doctest::Contains("apart"), std::invalid_argument);
  }
}

TEST_CASE_FIXTURE(GpuTest, "rms_norm: QK-norm in place on a slice of a wider row") {
  // q occupies the first 4 * 72 floats of a fused [T, (4 + 2 + 2) * 72] QKV row.
  const uint32_t T = 5, heads = 4, D = 72, stride = 8 * 72;
  auto qkv = random_floats(size_t(T) * stride), w = random_floats(D, 0.5f, 1.5f);
  GpuBuf qb(ctx, qkv), wb(ctx, w);
  Sequence seq(ctx.device());
  RmsNormShape s{.tokens = T, .groups = heads, .n = D, .x_stride = stride, .y_stride = stride, .eps = 1e-6f};
  record_rms_norm(ctx, seq, s, qb.range(), wb.range(), qb.range());
  seq.run();
  auto got = qb.floats(ctx);
  std::vector<float> q, q_got;
  for (uint32_t t = 0; t < T; ++t) {
    q.insert(q.end(), qkv.begin() + t * stride, qkv.begin() + t * stride + heads * D);
    q_got.insert(q_got.end(), got.begin() + t * stride, got.begin() + t * stride + heads * D);
    // The K and V parts of the row are untouched.
    CHECK(std::equal(got.begin() + t * stride + heads * D, got.begin() + (t + 1) * stride,
                     qkv.begin() + t * stride + heads * D));
  }
  CHECK(rel_l2(q_got, rms_norm_ref(q, w, T, heads, D, 1e-6)) < 1e-5);
}

TEST_CASE_FIXTURE(GpuTest, "rms_norm: fused residual add updates the stream in place") {
  for (const auto& variant : variants(ctx, "rms_norm")) {
    CAPTURE(variant);
    const uint32_t T = 9, n = 257;
    auto h = random_floats(T * n), r = random_floats(T * n), w = random_floats(n, 0.5f, 1.5f);
    GpuBuf hb(ctx, h), rb(ctx, r), wb(ctx, w), yb(ctx, T * n);
    Sequence seq(ctx.device());
    yb.poison(seq);
    RmsNormShape s{.tokens = T, .n = n, .eps = 1e-6f};
    record_rms_norm(ctx, seq, s, hb.range(), wb.range(), yb.range(), rb.range(), hb.range(), variant);
    seq.run();
    CHECK(rel_l2(yb.floats(ctx), rms_norm_ref(h, w, T, 1, n, 1e-6, r)) < 1e-5);
    std::vector<float> sum(T * n);
    for (size_t i = 0; i < sum.size(); ++i) sum[i] = h[i] + r[i];
    CHECK(hb.floats(ctx) == sum);  // x + r in f32 is exact to the same rounding on both sides
  }
}

TEST_CASE_FIXTURE(GpuTest, "rope: layouts, partial rotary, scaling and YaRN match ggml's formulas") {
  struct Case {
    const char* name;
    RopeConfig cfg;
    uint32_t heads, tokens, first_pos;
    bool freq_factors;
  };
  const Case cases[] = {
      {"normal 64", {.head_dim = 64, .n_rot = 64}, 3, 17, 0, false},
      {"neox 128", {.head_dim = 128, .n_rot = 128, .neox = true, .freq_base = 1e6f}, 2, 9, 123, false},
      {"neox partial 72/32", {.head_dim = 72, .n_rot = 32, .neox = true}, 3, 5, 40, false},
      {"normal partial 80/40", {.head_dim = 80, .n_rot = 40}, 2, 4, 7, false},
      {"linear scaling", {.head_dim = 64, .n_rot = 64, .neox = true, .freq_scale = 0.25f}, 2, 6, 200, false},
      {"yarn (deepseek-like)",
       {.head_dim = 64, .n_rot = 64, .freq_scale = 0.025f, .ext_factor = 1.0f, .attn_factor = 1.0f,
        .beta_fast = 32.0f, .beta_slow = 1.0f, .n_ctx_orig = 4096},
       4, 7, 300, false},
      {"yarn neox partial",
       {.head_dim = 96, .n_rot = 64, .neox = true, .freq_base = 5e5f, .freq_scale = 0.125f, .ext_factor = 0.5f,
        .attn_factor = 0.9f, .beta_fast = 16.0f, .beta_slow = 2.0f, .n_ctx_orig = 8192},
       2, 5, 60, false},
      {"freq factors", {.head_dim = 64, .n_rot = 64, .neox = true, .freq_base = 5e5f}, 2, 3, 90, true},
      {"rotated part last (deepseek q_pe)", {.head_dim = 48, .n_rot = 16, .rot_offset = 32}, 3, 4, 9, false},
      {"rotated part in the middle, neox, yarn",
       {.head_dim = 40, .n_rot = 16, .rot_offset = 8, .neox = true, .freq_scale = 0.25f, .ext_factor = 1.0f,
        .n_ctx_orig = 512},
       2, 3, 700, false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    const uint32_t row = c.heads * c.cfg.head_dim;
    auto x = random_floats(size_t(c.tokens) * row);
    auto pos = consecutive(c.tokens, c.first_pos);
    std::shuffle(pos.begin(), pos.end(), rng());  // positions are per token, in any order
    auto ff = random_floats(c.cfg.n_rot / 2, 1.0f, 8.0f);
    GpuBuf xb(ctx, x), pb(ctx, pos), fb(ctx, ff), yb(ctx, x.size());
    Sequence seq(ctx.device());
    yb.poison(seq);
    record_rope(ctx, seq, c.cfg, {.tokens = c.tokens, .heads = c.heads}, xb.range(), pb.range(), yb.range(),
                c.freq_factors ? fb.range() : BufferRange{});
    seq.run();
    auto ref = rope_ref(c.cfg, x, pos, c.heads, c.freq_factors ? std::span<const float>(ff) : std::span<const float>());
    CHECK(rel_l2(yb.floats(ctx), ref) < 1e-5);
  }
}

TEST_CASE_FIXTURE(GpuTest, "rope: in place on the K part of a fused QKV row") {
  const uint32_t T = 4, D = 64, stride = 6 * 64;  // q: 4 heads, k: 1 head, v: 1 head
  RopeConfig cfg{.head_dim = D, .n_rot = D, .neox = true};
  auto qkv = random_floats(size_t(T) * stride);
  auto pos = consecutive(T, 11);
  GpuBuf b(ctx, qkv), pb(ctx, pos);
  Sequence seq(ctx.device());
  const BufferRange k = b.range(4 * D * 4, b.bytes() - 4 * D * 4);
  record_rope(ctx, seq, cfg, {.tokens = T, .heads = 1, .x_stride = stride, .y_stride = stride}, k, pb.range(), k);
  seq.run();
  auto got = b.floats(ctx);
  std::vector<float> kin, kgot;
  for (uint32_t t = 0; t < T; ++t) {
    kin.insert(kin.end(), qkv.begin() + t * stride + 4 * D, qkv.begin() + t * stride + 5 * D);
    kgot.insert(kgot.end(), got.begin() + t * stride + 4 * D, got.begin() + t * stride + 5 * D);
    CHECK(std::equal(got.begin() + t * stride, got.begin() + t * stride + 4 * D, qkv.begin() + t * stride));
  }
  CHECK(rel_l2(kgot, rope_ref(cfg, kin, pos, 1)) < 1e-5);
}


TEST_CASE_FIXTURE(GpuTest, "kv_store: rows land at their positions as f16") {
  for (uint32_t dv : {0u, 40u, 96u}) {  // values as wide as keys, narrower (DeepSeek MLA), wider
  CAPTURE(dv);
  TestCache cache(ctx, {4, 2, 72, 40, dv});
  cache.store(ctx, 0, 3);
  cache.store(ctx, 17, 5);  // not contiguous with the first rows
  auto words = [&](const GpuBuf& b) {
    std::vector<uint32_t> w(b.bytes() / 4);
    ctx.transfer().download(b.buffer, 0, w.data(), b.bytes());
    return w;
  };
  for (auto [gpu, host] : {std::pair{words(cache.k), &cache.k_host}, std::pair{words(cache.v), &cache.v_host}}) {
    uint32_t off_by_more_than_one_ulp = 0;
    for (size_t i = 0; i < host->size(); ++i) {
      const uint16_t h = uint16_t(gpu[i / 2] >> ((i & 1) * 16));
      const uint16_t want = f32_to_f16((*host)[i]);  // host holds the rounded value: exact
      if (std::abs(int(h) - int(want)) > 1) ++off_by_more_than_one_ulp;
    }
    CHECK(off_by_more_than_one_ulp == 0);
  }
  }
}

TEST_CASE_FIXTURE(GpuTest, "mla_kv_store: per-head keys [k_nope, shared k_pe] and values from the decompressed kv") {
  // DeepSeek-like: 3 heads, nope 8, rope 4 (Dk 12), Dv 6; k_pe is the tail of a [lora 10 + rope 4] row.
  const uint32_t T = 5, NH = 3, nope = 8, rope = 4, dv = 6, lora = 10, first = 7;
  TestCache cache(ctx, {NH, NH, nope + rope, 16, dv});
  auto kv = random_floats(size_t(T) * NH * (nope + dv)), kv_a = random_floats(size_t(T) * (lora + rope));
  auto pos = consecutive(T, first);
  GpuBuf kvb(ctx, kv), kab(ctx, kv_a), pb(ctx, pos);
  Sequence seq(ctx.device());
  record_mla_kv_store(ctx, seq, cache.layer(), {.tokens = T, .nope = nope, .pe_stride = lora + rope, .pe_offset = lora},
                      kvb.range(), kab.range(), pb.range());
  seq.run();
  std::vector<uint32_t> kw(cache.k.bytes() / 4), vw(cache.v.bytes() / 4);
  ctx.transfer().download(cache.k.buffer, 0, kw.data(), cache.k.bytes());
  ctx.transfer().download(cache.v.buffer, 0, vw.data(), cache.v.bytes());
  // Within one f16 ulp of the host's rounding (the device may round differently).
  auto off = [](const std::vector<uint32_t>& w, size_t i, float want) {
    return std::abs(int(uint16_t(w[i / 2] >> ((i & 1) * 16))) - int(f32_to_f16(want))) > 1;
  };
  uint32_t wrong = 0;
  for (uint32_t t = 0; t < T; ++t)
    for (uint32_t h = 0; h < NH; ++h) {
      const float* src = &kv[(size_t(t) * NH + h) * (nope + dv)];
      for (uint32_t d = 0; d < nope + rope; ++d) {
        const float want = d < nope ? src[d] : kv_a[size_t(t) * (lora + rope) + lora + d - nope];
        wrong += off(kw, (size_t(first + t) * NH + h) * (nope + rope) + d, want);
      }
      for (uint32_t d = 0; d < dv; ++d) wrong += off(vw, (size_t(first + t) * NH + h) * dv + d, src[nope + d]);
    }
  CHECK(wrong == 0);
  // Rows outside the positions stay as they were (zero).
  CHECK(std::all_of(kw.begin(), kw.begin() + size_t(first) * NH * (nope + rope) / 2, [](uint32_t w) { return w == 0; }));
}

TEST_CASE_FIXTURE(GpuTest, "elementwise: add, mul, silu_mul on fused gate/up halves, scale, in place") {
  const uint32_t T = 3, F = 333;
  auto gate_up = random_floats(size_t(T) * 2 * F, -4.0f, 4.0f);  // [T, 2F]: gate then up
  auto a = random_floats(size_t(T) * F), b = random_floats(size_t(T) * F);
  GpuBuf gub(ctx, gate_up), ab(ctx, a), bb(ctx, b), yb(ctx, size_t(T) * F), sb(ctx, size_t(T) * F);
  Sequence seq(ctx.device());
  yb.poison(seq);
  sb.poison(seq);
  // F is odd: the up half starts below the binding alignment, so it is addressed by b_offset.
  const EltShape fused{.rows = T, .n = F, .a_stride = 2 * F, .b_stride = 2 * F, .b_offset = F};
  record_silu_mul(ctx, seq, fused, gub.range(), gub.range(), yb.range());
  record_scale(ctx, seq, {.rows = T, .n = F}, ab.range(), sb.range(), -0.75f);
  record_add(ctx, seq, {.rows = T, .n = F}, ab.range(), bb.range(), ab.range());  // a += b in place
  record_mul(ctx, seq, {.rows = T, .n = F}, bb.range(), ab.range(), bb.range());  // b *= (a + b)
  seq.run();

  std::vector<float> g, u;
  for (uint32_t t = 0; t < T; ++t) {
    g.insert(g.end(), gate_up.begin() + t * 2 * F, gate_up.begin() + t * 2 * F + F);
    u.insert(u.end(), gate_up.begin() + t * 2 * F + F, gate_up.begin() + (t + 1) * 2 * F);
  }
  CHECK(rel_l2(yb.floats(ctx), silu_mul_ref(g, u)) < 1e-5);
  std::vector<double> scaled(a.size()), sum(a.size()), prod(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    scaled[i] = -0.75 * a[i];
    sum[i] = double(a[i]) + b[i];
    prod[i] = double(b[i]) * float(a[i] + b[i]);
  }
  CHECK(rel_l2(sb.floats(ctx), scaled) < 1e-6);
  CHECK(rel_l2(ab.floats(ctx), sum) < 1e-6);
  CHECK(rel_l2(bb.floats(ctx), prod) < 1e-6);
}

// Grok: the final logit softcap and the dense FFN's gelu(gate) * up, odd sizes, in place.
TEST_CASE_FIXTURE(GpuTest, "elementwise: softcap and gelu_mul match the reference") {
  const uint32_t T = 3, F = 333;
  auto a = random_floats(size_t(T) * F, -40.0f, 40.0f), b = random_floats(size_t(T) * F, -2.0f, 2.0f);
  auto g = random_floats(size_t(T) * F, -5.0f, 5.0f);
  GpuBuf ab(ctx, a), gb(ctx, g), bb(ctx, b), yb(ctx, size_t(T) * F);
  Sequence seq(ctx.device());
  yb.poison(seq);
  record_softcap(ctx, seq, {.rows = T, .n = F}, ab.range(), ab.range(), 30.0f);
  record_gelu_mul(ctx, seq, {.rows = T, .n = F}, gb.range(), bb.range(), yb.range());
  seq.run();
  std::vector<double> capped(a.size()), gm(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    capped[i] = 30.0 * std::tanh(a[i] / 30.0);
    const double x = g[i];
    gm[i] = 0.5 * x * (1 + std::tanh(std::sqrt(2 / std::numbers::pi) * (x + 0.044715 * x * x * x))) * b[i];
  }
  CHECK(rel_l2(ab.floats(ctx), capped) < 1e-5);
  CHECK(rel_l2(yb.floats(ctx), gm) < 1e-5);
}

TEST_CASE_FIXTURE(GpuTest, "argmax: rows of logits, ties to the lower index, NaN and -inf") {
  const uint32_t rows = 6, n = 1001;
  auto x = random_floats(size_t(rows) * n, -10.0f, 10.0f);
  // Row 1: a tie at the maximum between 700 and 5; row 2: the maximum at the last index.
  x[n + 700] = 50.0f;
  x[n + 5] = 50.0f;
  x[2 * n + n - 1] = 99.0f;
  // Row 3: NaN everywhere but two equal values; row 4: all -inf; row 5: all NaN.
  for (uint32_t i = 0; i < n; ++i) {
    x[3 * n + i] = NAN;
    x[4 * n + i] = -INFINITY;
    x[5 * n + i] = NAN;
  }
  x[3 * n + 900] = -3.0f;
  x[3 * n + 400] = -3.0f;
  GpuBuf xb(ctx, x), ib(ctx, rows);
  Sequence seq(ctx.device());
  ib.poison(seq);
  record_argmax(ctx, seq, {.rows = rows, .n = n}, xb.range(), ib.range());
  seq.run();
  std::vector<uint32_t> ids(rows);
  ctx.transfer().download(ib.buffer, 0, ids.data(), rows * 4);
  CHECK(ids == argmax_ref(x, rows, n));
  CHECK(ids[1] == 5);
  CHECK(ids[2] == n - 1);
  CHECK(ids[3] == 400);
  CHECK(ids[4] == 0);
  CHECK(ids[5] == 0);
}
