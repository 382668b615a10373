// The router kernel against the double-precision CPU reference: every gating scheme, every
// router weight type, both shader variants, ties, non-finite logits, groups, statistics.
#include <doctest/doctest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "runtime/kernels/router.h"
#include "runtime/quant/quant.h"
#include "runtime/reference/ops_ref.h"
#include "runtime/reference/router_ref.h"
#include "runtime/vk/sequence.h"
#include "tests/gpu_fixture.h"
#include "tests/test_util.h"

using namespace vkmoe;
using namespace vkmoe::test;

namespace {

struct RouterCase {
  RouterConfig cfg;
  GgmlType type = GgmlType::F32;
  uint32_t tokens = 1, hidden = 64;
  std::vector<float> x;     // [T, H]; random if empty
  std::vector<float> w;     // [E, H] before quantisation; random if empty
  std::vector<float> bias;  // [E] or empty
  std::vector<float> shared_w;  // [H] F32 shared-expert gate, or empty
  std::vector<float> norm_w;    // [H]: RMS-norm prologue (eps 1e-5), or empty
  std::vector<float> logit_bias;  // [E] added to the logits (gpt-oss), or empty
  std::vector<float> norm_b;      // [H] the norm's bias, or empty
  bool center = false;            // LayerNorm
  std::vector<float> post_w, branch;  // [H], [T, H]: x += rms_norm(branch) * post_w first, or empty
};

struct RouterRun {
  std::vector<uint32_t> ids, counts;
  std::vector<float> weights, logits, shared_gate;
  std::vector<double> ref_logits;
  std::vector<RouterSelection> ref;
  std::vector<double> ref_shared;
  std::vector<float> x_norm;  // with a norm prologue
  std::vector<double> ref_x_norm;
  std::vector<float> x_after;   // with a post norm: the updated residual
  std::vector<double> ref_x_after;
};

std::vector<uint8_t> to_bytes(GgmlType type, std::span<const float> w) {
  if (type == GgmlType::F32) {
    std::vector<uint8_t> b(w.size() * 4);
    std::memcpy(b.data(), w.data(), b.size());
    return b;
  }
  return quantize(type, w);
}

RouterRun run_router(Context& ctx, RouterCase c, const std::string& variant) {
  const uint32_t T = c.tokens, H = c.hidden, E = c.cfg.experts;
  const uint32_t K = c.cfg.gating == Gating::top1 ? 1 : c.cfg.k;
  if (c.x.empty()) c.x = random_floats(size_t(T) * H);
  if (c.w.empty()) c.w = random_floats(size_t(E) * H);
  // The weights as the kernel sees them: quantized bytes; the reference uses their dequantized values.
  std::vector<uint8_t> wbytes;
  for (uint32_t e = 0; e < E; ++e) {
    auto row = to_bytes(c.type, std::span<const float>(c.w).subspan(size_t(e) * H, H));
    wbytes.insert(wbytes.end(), row.begin(), row.end());
  }
  std::vector<float> wdeq(size_t(E) * H);
  for (uint32_t e = 0; e < E; ++e)
    dequantize_row(c.type, wbytes.data() + size_t(e) * ggml_row_bytes(c.type, H), wdeq.data() + size_t(e) * H, H);

  auto& A = ctx.allocator();
  Buffer xb = A.create_buffer(c.x.size() * 4, MemoryUse::device, "x");
  Buffer wb = A.create_buffer(wbytes.size(), MemoryUse::device, "router w");
  Buffer bb = A.create_buffer(std::max<size_t>(4, c.bias.size() * 4), MemoryUse::device, "bias");
  Buffer sb = A.create_buffer(std::max<size_t>(4, c.shared_w.size() * 4), MemoryUse::device, "shared w");
  Buffer lbb = A.create_buffer(std::max<size_t>(4, c.logit_bias.size() * 4), MemoryUse::device, "logit bias");
  if (!c.logit_bias.empty()) ctx.transfer().upload(lbb, 0, c.logit_bias.data(), c.logit_bias.size() * 4);
  Buffer ib = A.create_buffer(size_t(T) * K * 4, MemoryUse::device, "ids");
  Buffer ob = A.create_buffer(size_t(T) * K * 4, MemoryUse::device, "weights");
  Buffer lb = A.create_buffer(size_t(T) * E * 4, MemoryUse::device, "logits");
  Buffer cb = A.create_buffer(size_t(E) * 4, MemoryUse::device, "counts");
  Buffer gb = A.create_buffer(size_t(T) * 4, MemoryUse::device, "shared gate");
  Buffer nb = A.create_buffer(std::max<size_t>(4, c.norm_w.size() * 4), MemoryUse::device, "norm w");
  Buffer xnb = A.create_buffer(size_t(T) * H * 4, MemoryUse::device, "x norm");
  if (!c.norm_w.empty()) ctx.transfer().upload(nb, 0, c.norm_w.data(), c.norm_w.size() * 4);
  const auto upload_opt = [&](const std::vector<float>& v, const char* name) {
    Buffer b = A.create_buffer(std::max<size_t>(4, v.size() * 4), MemoryUse::device, name);
    if (!v.empty()) ctx.transfer().upload(b, 0, v.data(), v.size() * 4);
    return b;
  };
  Buffer nbb = upload_opt(c.norm_b, "norm b"), pwb = upload_opt(c.post_w, "post w"), brb = upload_opt(c.branch, "branch");
  ctx.transfer().upload(xb, 0, c.x.data(), c.x.size() * 4);
  ctx.transfer().upload(wb, 0, wbytes.data(), wbytes.size());
  if (!c.bias.empty()) ctx.transfer().upload(bb, 0, c.bias.data(), c.bias.size() * 4);
  if (!c.shared_w.empty()) ctx.transfer().upload(sb, 0, c.shared_w.data(), c.shared_w.size() * 4);

  Sequence seq(ctx.device());
  for (Buffer* b : {&ib, &ob, &lb, &gb, &xnb}) seq.fill(b->range(), kPoisonBits);
  seq.fill(cb.range(), 0);
  RouterWeights rw{c.type, wb.range(), c.bias.empty() ? BufferRange{} : bb.range(), GgmlType::F32,
                   c.shared_w.empty() ? BufferRange{} : sb.range()};
  if (!c.logit_bias.empty()) rw.logit_bias = lbb.range();
  RouterOutputs ro{ib.range(), ob.range(), lb.range(), cb.range(), c.shared_w.empty() ? BufferRange{} : gb.range()};
  const float eps = 1e-5f;
  if (!c.norm_w.empty()) {
    rw.norm = nb.range();
    rw.norm_eps = eps;
    rw.norm_center = c.center;
    if (!c.norm_b.empty()) rw.norm_bias = nbb.range();
    if (!c.post_w.empty()) rw.post_norm = pwb.range(), ro.branch = brb.range();
    ro.x_norm = xnb.range();
  }
  record_router(ctx, seq, c.cfg, rw, T, H, xb.range(), ro, variant);
  seq.run();

  RouterRun r;
  r.ids.resize(size_t(T) * K);
  r.weights.resize(size_t(T) * K);
  r.logits.resize(size_t(T) * E);
  r.counts.resize(E);
  r.shared_gate.resize(T);
  ctx.transfer().download(ib, 0, r.ids.data(), r.ids.size() * 4);
  ctx.transfer().download(ob, 0, r.weights.data(), r.weights.size() * 4);
  ctx.transfer().download(lb, 0, r.logits.data(), r.logits.size() * 4);
  ctx.transfer().download(cb, 0, r.counts.data(), r.counts.size() * 4);
  ctx.transfer().download(gb, 0, r.shared_gate.data(), r.shared_gate.size() * 4);

  if (!c.post_w.empty()) {  // x += rms_norm(branch) * post_w, in f32 as the kernel stores it
    r.x_after.resize(c.x.size());
    ctx.transfer().download(xb, 0, r.x_after.data(), r.x_after.size() * 4);
    const auto pn = rms_norm_ref(c.branch, c.post_w, T, 1, H, eps);
    r.ref_x_after.resize(c.x.size());
    for (size_t i = 0; i < c.x.size(); ++i) r.ref_x_after[i] = c.x[i] + pn[i];
    c.x.assign(r.ref_x_after.begin(), r.ref_x_after.end());
  }
  if (!c.norm_w.empty()) {
    r.x_norm.resize(size_t(T) * H);
    ctx.transfer().download(xnb, 0, r.x_norm.data(), r.x_norm.size() * 4);
    r.ref_x_norm = norm_ref(c.x, c.norm_w, c.norm_b, T, 1, H, eps, c.center);
    c.x.assign(r.ref_x_norm.begin(), r.ref_x_norm.end());  // the reference scores the normalized x
  }
  r.ref_logits = router_logits_ref(wdeq, c.x, T, E, H);
  if (!c.logit_bias.empty())
    for (size_t i = 0; i < r.ref_logits.size(); ++i) r.ref_logits[i] += c.logit_bias[i % E];
  for (uint32_t t = 0; t < T; ++t)
    r.ref.push_back(router_select_ref(c.cfg, std::span<const double>(r.ref_logits).subspan(size_t(t) * E, E), c.bias));
  if (!c.shared_w.empty()) r.ref_shared = router_logits_ref(c.shared_w, c.x, T, 1, H);
  return r;
}

// Compares selections token by token. A different choice is accepted only where the reference
// scores of the two experts are within rounding of a tie; returns how many tokens had one.
uint32_t check_selection(const RouterCase& c, const RouterRun& r) {
  const uint32_t T = c.tokens, E = c.cfg.experts;
  const uint32_t K = c.cfg.gating == Gating::top1 ? 1 : c.cfg.k;
  uint32_t near_ties = 0;
  std::vector<uint32_t> counts(E, 0);
  for (uint32_t t = 0; t < T; ++t) {
    const auto& ref = r.ref[t];
    bool same = true;
    for (uint32_t s = 0; s < K; ++s) {
      const uint32_t g = r.ids[size_t(t) * K + s], e = ref.ids[s];
      if (g != 0xFFFFFFFFu) {
        REQUIRE(g < E);
        ++counts[g];
      }
      if (g == e || !same) continue;
      same = false;
      REQUIRE_MESSAGE((g != 0xFFFFFFFFu && e != 0xFFFFFFFFu), "token " << t << " slot " << s << ": gpu " << g << " ref " << e);
      const double a = ref.scores[g], b = ref.scores[e];
      const bool tie = std::fabs(a - b) <= 1e-5 * std::fmax(1.0, std::fabs(b));
      CHECK_MESSAGE(tie, "token " << t << " slot " << s << ": gpu chose " << g << " (score " << a << "), reference "
                                  << e << " (score " << b << ")");
      ++near_ties;
    }
    if (!same) continue;
    for (uint32_t s = 0; s < K; ++s) {
      const double w = r.weights[size_t(t) * K + s], ref_w = ref.weights[s];
      CHECK_MESSAGE(std::fabs(w - ref_w) <= 1e-6 + 1e-4 * std::fabs(ref_w),
                    "token " << t << " slot " << s << ": weight " << w << " vs " << ref_w);
    }
  }
  for (uint32_t e = 0; e < E; ++e) CHECK(r.counts[e] == counts[e]);
  return near_ties;
}

void check_logits(const RouterRun& r) { CHECK(rel_l2(r.logits, r.ref_logits) < 1e-5); }

std::vector<std::string> variants(Context& ctx) {
  std::vector<std::string> v;
  for (const auto* s : ctx.pipelines().supported_variants("router")) v.push_back(s->name);
  return v;
}

}  // namespace

TEST_CASE_FIXTURE(GpuTest, "router: every gating scheme and weight type matches the reference") {
  const GgmlType types[] = {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0};
  struct Scheme {
    const char* name;
    RouterConfig cfg;
    bool bias;
    bool logit_bias = false;
    float bias_range = 0.5f;  // selection bias in [-range, range)
  };
  const Scheme schemes[] = {
      {"qwen3 softmax top-8 renorm", {.gating = Gating::softmax_topk, .experts = 128, .k = 8, .renormalize = true}, false},
      {"olmoe softmax top-8", {.gating = Gating::softmax_topk, .experts = 64, .k = 8}, false},
      {"mixtral top-2 softmax", {.gating = Gating::topk_softmax, .experts = 8, .k = 2}, false},
      {"gpt-oss logit bias, top-4 softmax", {.gating = Gating::topk_softmax, .experts = 32, .k = 4}, false, true},
      {"deepseek-v3 sigmoid groups",
       {.gating = Gating::sigmoid_group, .experts = 256, .k = 8, .renormalize = true, .n_group = 8, .topk_group = 4,
        .group_top2 = true, .scale = 2.5f},
       true},
      {"deepseek-v2 softmax groups",
       {.gating = Gating::softmax_topk, .experts = 160, .k = 6, .n_group = 8, .topk_group = 3, .group_top2 = false,
        .scale = 16.0f},
       false},
      {"switch top-1", {.gating = Gating::top1, .experts = 16, .k = 1}, false},
      {"threshold", {.gating = Gating::threshold, .experts = 16, .k = 4, .threshold = 0.08f}, false},
      // The bias goes on the probabilities (~1/64 each), so it is sized like them.
      {"ernie softmax, probability + bias, renorm", {.gating = Gating::softmax_topk, .experts = 64, .k = 6, .renormalize = true},
       true, false, 0.03f},
  };
  for (const auto& variant : variants(ctx))
    for (GgmlType type : types)
      for (const auto& s : schemes) {
        CAPTURE(variant);
        CAPTURE(ggml_type_name(type));
        CAPTURE(s.name);
        RouterCase c;
        c.cfg = s.cfg;
        c.type = type;
        c.tokens = 13;
        c.hidden = type == GgmlType::Q8_0 ? 96 : 97;  // odd where the type allows
        if (s.bias) c.bias = random_floats(c.cfg.experts, -s.bias_range, s.bias_range);
        if (s.logit_bias) c.logit_bias = random_floats(c.cfg.experts, -2.0f, 2.0f);
        if (s.cfg.gating == Gating::threshold) {
          // Even tokens near-uniform (every probability ~1/16 < 0.08: all slots empty), odd tokens
          // peaked (the best expert well above 0.08): the count must vary.
          c.x = random_floats(size_t(c.tokens) * c.hidden);
          for (uint32_t t = 0; t < c.tokens; ++t)
            for (uint32_t h = 0; h < c.hidden; ++h) c.x[size_t(t) * c.hidden + h] *= t % 2 ? 3.0f : 0.001f;
        }
        auto r = run_router(ctx, c, variant);
        check_logits(r);
        CHECK(check_selection(c, r) <= 1);
        if (s.cfg.gating == Gating::threshold) {
          // The count varies per token: some slots must be empty on this data, some filled.
          size_t empty = std::count(r.ids.begin(), r.ids.end(), 0xFFFFFFFFu);
          CHECK(empty > 0);
          CHECK(empty < r.ids.size());
        }
      }
}

TEST_CASE_FIXTURE(GpuTest, "router: RMS-norm prologue scores and writes the normalized x") {
  for (const auto& variant : variants(ctx))
    for (uint32_t tokens : {1u, 5u}) {
      CAPTURE(variant);
      CAPTURE(tokens);
      RouterCase c;
      c.cfg = {.gating = Gating::softmax_topk, .experts = 16, .k = 4};
      c.tokens = tokens;
      c.hidden = 200;  // not a multiple of the workgroup
      c.x = random_floats(size_t(tokens) * c.hidden);
      for (float& v : c.x) v *= 5.0f;
      c.norm_w = random_floats(c.hidden);
      c.shared_w = random_floats(c.hidden);
      auto r = run_router(ctx, c, variant);
      CHECK(rel_l2(r.x_norm, r.ref_x_norm) < 1e-6);
      check_logits(r);
      check_selection(c, r);
      for (uint32_t t = 0; t < tokens; ++t)  // the shared gate reads the normalized x too
        CHECK(r.shared_gate[t] == doctest::Approx(1.0 / (1.0 + std::exp(-r.ref_shared[t]))).epsilon(1e-5));
    }
}

TEST_CASE_FIXTURE(GpuTest, "router: LayerNorm, norm bias and a post norm with its residual add in the prologue") {
  for (const auto& variant : variants(ctx))
    for (int mode = 0; mode < 4; ++mode) {  // LayerNorm; bias; both; RMS + post norm (Grok)
      CAPTURE(variant);
      CAPTURE(mode);
      RouterCase c;
      c.cfg = {.gating = Gating::softmax_topk, .experts = 16, .k = 4, .renormalize = true};
      c.tokens = mode == 1 ? 1 : 5;
      c.hidden = 203;  // odd, not a multiple of the workgroup
      c.x = random_floats(size_t(c.tokens) * c.hidden);
      for (float& v : c.x) v = v * 5.0f + 3.0f;  // the mean must matter
      c.norm_w = random_floats(c.hidden);
      c.center = mode == 0 || mode == 2;
      if (mode == 1 || mode == 2) c.norm_b = random_floats(c.hidden);
      if (mode == 3) c.post_w = random_floats(c.hidden), c.branch = random_floats(size_t(c.tokens) * c.hidden, -4.0f, 4.0f);
      auto r = run_router(ctx, c, variant);
      if (mode == 3) CHECK(rel_l2(r.x_after, r.ref_x_after) < 1e-6);
      CHECK(rel_l2(r.x_norm, r.ref_x_norm) < 1e-5);
      check_logits(r);
      check_selection(c, r);
    }
}

TEST_CASE_FIXTURE(GpuTest, "router: k equal to the number of experts, one and many tokens") {
  for (const auto& variant : variants(ctx))
    for (uint32_t tokens : {1u, 300u}) {
      CAPTURE(variant);
      CAPTURE(tokens);
      RouterCase c;
      c.cfg = {.gating = Gating::softmax_topk, .experts = 8, .k = 8, .renormalize = true};
      c.tokens = tokens;
      c.hidden = 33;
      auto r = run_router(ctx, c, variant);
      check_logits(r);
      check_selection(c, r);
      for (uint32_t t = 0; t < tokens; ++t) {
        std::vector<uint32_t> ids(r.ids.begin() + t * 8, r.ids.begin() + t * 8 + 8);
        std::sort(ids.begin(), ids.end());
        for (uint32_t e = 0; e < 8; ++e) REQUIRE(ids[e] == e);
      }
      for (uint32_t e = 0; e < 8; ++e) CHECK(r.counts[e] == tokens);
    }
}

TEST_CASE_FIXTURE(GpuTest, "router: ties go to the lower expert index") {
  for (const auto& variant : variants(ctx)) {
    CAPTURE(variant);
    RouterCase c;
    c.cfg = {.gating = Gating::softmax_topk, .experts = 12, .k = 4};
    c.tokens = 3;
    c.hidden = 40;
    c.w = random_floats(12 * 40);
    // Experts 9, 3, 7 and 5 get the same row: identical logits, bitwise, on every path.
    auto row = random_floats(40, 2.0f, 3.0f);  // large positive weights: these four win
    c.x = random_floats(3 * 40, 0.5f, 1.0f);
    for (uint32_t e : {9u, 3u, 7u, 5u}) std::copy(row.begin(), row.end(), c.w.begin() + e * 40);
    auto r = run_router(ctx, c, variant);
    for (uint32_t t = 0; t < 3; ++t) {
      CHECK(r.ids[t * 4 + 0] == 3);
      CHECK(r.ids[t * 4 + 1] == 5);
      CHECK(r.ids[t * 4 + 2] == 7);
      CHECK(r.ids[t * 4 + 3] == 9);
      CHECK(r.weights[t * 4] == r.weights[t * 4 + 3]);
    }
    check_selection(c, r);
  }
}

TEST_CASE_FIXTURE(GpuTest, "router: NaN and infinite logits have a defined result") {
  // NaN counts as -FLT_MAX, +Inf as FLT_MAX, -Inf as -FLT_MAX (router.comp.glsl's header).
  for (const auto& variant : variants(ctx)) {
    CAPTURE(variant);
    RouterCase c;
    c.cfg = {.gating = Gating::softmax_topk, .experts = 8, .k = 3, .renormalize = true};
    c.tokens = 2;
    c.hidden = 32;
    c.w = random_floats(8 * 32, 0.1f, 1.0f);
    for (uint32_t h = 0; h < 32; ++h) {
      c.w[6 * 32 + h] = 1e30f;   // expert 6: +Inf for positive x
      c.w[2 * 32 + h] = -1e30f;  // expert 2: -Inf
    }
    c.x = random_floats(2 * 32, 1e9f, 2e9f);
    c.x[32 + 5] = NAN;  // token 1: every logit is NaN
    auto r = run_router(ctx, c, variant);
    // Token 0: +Inf wins with all the probability; the rest are finite and ordered.
    CHECK(r.ids[0] == 6);
    CHECK(r.weights[0] == doctest::Approx(1.0));
    CHECK(r.ids[1] != 2);
    // Token 1: all logits equal (-FLT_MAX): the lowest indices, equal weights.
    CHECK(r.ids[3] == 0);
    CHECK(r.ids[4] == 1);
    CHECK(r.ids[5] == 2);
    CHECK(r.weights[3] == doctest::Approx(1.0 / 3));
    for (float w : r.weights) CHECK(std::isfinite(w));
    check_selection(c, r);
  }
}

TEST_CASE_FIXTURE(GpuTest, "router: Qwen2-MoE shared-expert gate") {
  for (const auto& variant : variants(ctx)) {
    CAPTURE(variant);
    RouterCase c;
    c.cfg = {.gating = Gating::softmax_topk, .experts = 60, .k = 4};
    c.tokens = 5;
    c.hidden = 64;
    c.shared_w = random_floats(64);
    auto r = run_router(ctx, c, variant);
    for (uint32_t t = 0; t < 5; ++t)
      CHECK(r.shared_gate[t] == doctest::Approx(1.0 / (1.0 + std::exp(-r.ref_shared[t]))).epsilon(1e-5));
    check_selection(c, r);
  }
}

TEST_CASE("router: configurations outside the supported range are refused by name") {
  RouterConfig c{.gating = Gating::softmax_topk, .experts = 300, .k = 8};
  CHECK_THROWS_WITH(validate_router(c, GgmlType::F32, 64), doctest::Contains("300 experts"));
  c.experts = 64;
  c.k = 17;
  CHECK_THROWS_WITH(validate_router(c, GgmlType::F32, 64), doctest::Contains("k = 17"));
  c.k = 8;
  CHECK_THROWS_WITH(validate_router(c, GgmlType::Q4_K, 64), doctest::Contains("never below 8 bits"));
  CHECK_THROWS_WITH(validate_router(c, GgmlType::Q8_0, 48), doctest::Contains("multiple of 32"));
  c.n_group = 5;
  CHECK_THROWS_WITH(validate_router(c, GgmlType::F32, 64), doctest::Contains("do not divide"));
}

// The reference reports how close the group choice was: a near-tie there changes the experts as one
// between experts does, so the model tests stop comparing greedy tokens at it.
TEST_CASE("router reference: the group margin is the weakest kept group's score minus the best dropped one's") {
  const RouterConfig cfg{.gating = Gating::sigmoid_group, .experts = 8, .k = 2, .n_group = 4, .topk_group = 2};
  // Logits whose sigmoids give group top-2 sums: g0 = s(3)+s(2), g1 = s(1)+s(0), g2 = s(-1)+s(-2), g3 = s(-3)+s(-4).
  const std::vector<double> logits = {3, 2, 1, 0, -1, -2, -3, -4};
  const auto sig = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
  const RouterSelection sel = router_select_ref(cfg, logits, {});
  CHECK(sel.group_margin == doctest::Approx((sig(1) + sig(0)) - (sig(-1) + sig(-2))));
  const RouterSelection all = router_select_ref({.gating = Gating::sigmoid_group, .experts = 8, .k = 2}, logits, {});
  CHECK(std::isinf(all.group_margin));
}
