// The fused attention-front kernels against the double-precision references of the separate
// steps, at odd shapes: rope_kv_store (bias, QK-norm, RoPE, f16 cache store; both variants) and
// DeepSeek's mla_rope_kv_store (RoPE of q and k_pe with the MLA cache store).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
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

struct RkvCase {
  uint32_t tokens, heads, kv_heads, head_dim, v_dim;
  RopeConfig rope;
  QkNorm norm;
  bool bias, fused;  // fused: q|k|v in one row with padding after it
  bool norm_after = false;  // the QK-norm on the rotated values (Hunyuan-MoE)
  float clamp = 0;   // > 0: q, k, v clamped after the bias (DBRX)
  // llama4: per-head norm without weight, q's attention temperature (floor 3), rope_freqs factors.
  bool unit_norm = false, temp = false, freqs = false;
};

// One part of a token row (q, k or v) with the bias added in f32, as the kernel adds it.
std::vector<float> part(const std::vector<float>& rows, uint32_t T, uint32_t stride, uint32_t off, uint32_t n,
                        const std::vector<float>& bias, uint32_t b_off, bool add) {
  std::vector<float> out;
  for (uint32_t t = 0; t < T; ++t)
    for (uint32_t i = 0; i < n; ++i) out.push_back(rows[size_t(t) * stride + off + i] + (add ? bias[b_off + i] : 0.0f));
  return out;
}

// The reference: norm (double) then RoPE (double) on the f32-rounded normed values, or RoPE then
// norm with norm_after.
std::vector<double> ref_qk(const RkvCase& c, std::vector<float> x, uint32_t heads, std::span<const float> w,
                           std::span<const uint32_t> pos, double eps, std::span<const float> freq_factors) {
  const uint32_t T = c.tokens, D = c.head_dim;
  if (c.norm_after) {
    const auto r = rope_ref(c.rope, x, pos, heads);
    std::transform(r.begin(), r.end(), x.begin(), [](double v) { return float(v); });
    return c.norm == QkNorm::full ? rms_norm_ref(x, w, T, 1, heads * D, eps) : rms_norm_ref(x, w, T, heads, D, eps);
  }
  if (c.norm != QkNorm::none) {
    auto n = c.norm == QkNorm::full ? rms_norm_ref(x, w, T, 1, heads * D, eps) : rms_norm_ref(x, w, T, heads, D, eps);
    std::transform(n.begin(), n.end(), x.begin(), [](double v) { return float(v); });
  }
  return rope_ref(c.rope, x, pos, heads, freq_factors);
}

uint32_t word(const std::vector<float>& words, size_t i) {
  uint32_t w;
  std::memcpy(&w, &words[i], 4);
  return w;
}

// Half i of the cache is more than one f16 ulp from the reference (the device may round
// differently from the host).
uint32_t f16_off(const std::vector<float>& words, size_t i, double want) {
  const uint16_t h = uint16_t(word(words, i / 2) >> ((i & 1) * 16));
  return std::abs(int(h) - int(f32_to_f16(float(want)))) > 1;
}

void run_case(Context& ctx, const RkvCase& c, const std::string& variant) {
  const uint32_t T = c.tokens, D = c.head_dim, NH = c.heads, NKV = c.kv_heads, Dv = c.v_dim, n_ctx = 23;
  const uint32_t qw = NH * D, kw = NKV * D, vw = NKV * Dv, stride = qw + kw + vw + 3;  // odd padding
  const double eps = 1e-5;
  auto rows = random_floats(size_t(T) * stride, -2.0f, 2.0f);
  auto bias = random_floats(qw + kw + vw);
  const uint32_t qn = c.norm == QkNorm::full ? qw : D, kn = c.norm == QkNorm::full ? kw : D;
  auto norm = c.unit_norm ? std::vector<float>(qn + kn, 1.0f) : random_floats(qn + kn, 0.5f, 1.5f);
  auto factors = random_floats(std::max(1u, c.rope.n_rot / 2), 1.0f, 3.0f);
  const std::span<const float> ff = c.freqs ? std::span<const float>(factors) : std::span<const float>{};
  std::vector<uint32_t> pos(T);
  for (uint32_t t = 0; t < T; ++t) pos[t] = (t * 7 + 3) % n_ctx;
  pos[T - 1] = n_ctx + 2;  // past the cache: q still written, nothing stored
  auto q = part(rows, T, stride, 0, qw, bias, 0, c.bias), k = part(rows, T, stride, qw, kw, bias, qw, c.bias),
       v = part(rows, T, stride, qw + kw, vw, bias, qw + kw, c.bias);
  if (c.clamp > 0)
    for (auto* p : {&q, &k, &v})
      for (float& e : *p) e = std::clamp(e, -c.clamp, c.clamp);
  auto q_ref = ref_qk(c, q, NH, std::span<const float>(norm).first(qn), pos, eps, ff);
  auto k_ref = ref_qk(c, k, NKV, std::span<const float>(norm).subspan(qn), pos, eps, ff);
  if (c.temp)  // llama4's temperature with a floor of 3 (8192 in the models)
    for (uint32_t t = 0; t < T; ++t)
      for (uint32_t i = 0; i < qw; ++i) q_ref[size_t(t) * qw + i] *= std::log(std::floor((pos[t] + 1.0) / 3.0) + 1.0) * 0.1 + 1.0;

  // Inputs: one fused row range, or three packed tensors (the raw values, bias not added).
  auto raw_q = part(rows, T, stride, 0, qw, bias, 0, false), raw_k = part(rows, T, stride, qw, kw, bias, 0, false),
       raw_v = part(rows, T, stride, qw + kw, vw, bias, 0, false);
  GpuBuf rb(ctx, rows), qb(ctx, raw_q), kb(ctx, raw_k), vb(ctx, raw_v), pb(ctx, pos), bb(ctx, bias), nb(ctx, norm),
      fb(ctx, factors);
  GpuBuf qo(ctx, size_t(T) * qw), kc(ctx, size_t(n_ctx) * kw / 2), vc(ctx, size_t(n_ctx) * vw / 2);
  Sequence seq(ctx.device());
  qo.poison(seq);
  kc.poison(seq);
  vc.poison(seq);
  KvCacheLayer cache{kc.range(), vc.range(), n_ctx, NKV, D, Dv};
  RopeKvShape s{.tokens = T,
                .heads = NH,
                .norm = c.norm,
                .eps = float(eps),
                .norm_after_rope = c.norm_after,
                .clamp = c.clamp,
                .unit_norm = c.unit_norm};
  if (c.temp) s.temp_scale = 0.1f, s.temp_offset = 1.0f, s.temp_floor = 3;
  if (c.freqs) s.freq_factors = fb.range();
  const bool weighted = c.norm != QkNorm::none && !c.unit_norm;
  if (c.fused) {
    s.q_stride = s.k_stride = s.v_stride = stride;
    s.k_offset = qw;
    s.v_offset = qw + kw;
    record_rope_kv_store(ctx, seq, cache, c.rope, s, rb.range(), rb.range(), rb.range(), pb.range(),
                         c.bias ? bb.range() : BufferRange{}, weighted ? nb.range() : BufferRange{}, qo.range(), variant);
  } else {
    record_rope_kv_store(ctx, seq, cache, c.rope, s, qb.range(), kb.range(), vb.range(), pb.range(),
                         c.bias ? bb.range() : BufferRange{}, weighted ? nb.range() : BufferRange{}, qo.range(), variant);
  }
  seq.run();
  CHECK(rel_l2(qo.floats(ctx), q_ref) < 1e-5);
  // The cache: stored rows within one f16 ulp of the reference, every other row still poison.
  auto kg = kc.floats(ctx), vg = vc.floats(ctx);
  uint32_t wrong = 0, touched = 0;
  for (uint32_t row = 0; row < n_ctx; ++row) {
    const auto it = std::find(pos.begin(), pos.end(), row);
    const size_t t = size_t(it - pos.begin());
    for (uint32_t i = 0; i < kw; ++i) {
      const size_t idx = size_t(row) * kw + i;
      if (it == pos.end()) touched += word(kg, idx / 2) != kPoisonBits;
      else wrong += f16_off(kg, idx, k_ref[t * kw + i]);
    }
    for (uint32_t i = 0; i < vw; ++i) {
      const size_t idx = size_t(row) * vw + i;
      if (it == pos.end()) touched += word(vg, idx / 2) != kPoisonBits;
      else wrong += f16_off(vg, idx, v[t * vw + i]);
    }
  }
  CHECK(wrong == 0);
  CHECK(touched == 0);
}

}  // namespace

TEST_CASE_FIXTURE(GpuTest, "rope_kv_store: bias, clamp, QK-norm, RoPE and the cache store match the separate references") {
  RopeConfig neox_partial{.head_dim = 10, .n_rot = 6, .neox = true, .freq_base = 10000.0f};
  RopeConfig yarn{.head_dim = 130, .n_rot = 130, .neox = false, .freq_base = 1e6f, .freq_scale = 0.25f,
                  .ext_factor = 1.0f, .n_ctx_orig = 64};
  RopeConfig offset{.head_dim = 12, .n_rot = 4, .rot_offset = 8, .neox = false, .freq_base = 500.0f};
  RopeConfig llama4{.head_dim = 16, .n_rot = 16, .neox = false, .freq_base = 5e5f};
  RopeConfig nope{.head_dim = 16, .n_rot = 0, .neox = false, .freq_base = 5e5f};
  const RkvCase cases[] = {
      {5, 6, 2, 10, 14, neox_partial, QkNorm::per_head, true, true},   // Qwen2/3-like on a fused row
      {3, 3, 1, 130, 6, yarn, QkNorm::per_head, false, false},         // pairs past one workgroup
      {4, 9, 3, 12, 8, offset, QkNorm::full, true, false},             // OLMoE-like whole-vector norm
      {2, 4, 4, 10, 10, neox_partial, QkNorm::none, false, true},      // Mixtral-like: RoPE and store only
      {4, 6, 2, 10, 10, neox_partial, QkNorm::per_head, false, true, true},  // Hunyuan-like: per-head norm after RoPE
      {3, 3, 3, 130, 8, yarn, QkNorm::full, true, false, true},        // whole-vector norm after RoPE (scaled cos/sin)
      {3, 4, 2, 10, 10, neox_partial, QkNorm::none, true, true, false, 1.0f},  // DBRX-like: clamp at 1 after the bias
      {5, 4, 2, 16, 16, llama4, QkNorm::per_head, false, true, false, 0.0f, true, false, true},  // llama4 RoPE layer
      {5, 4, 2, 16, 16, nope, QkNorm::none, false, true, false, 0.0f, false, true, false},       // llama4 NoPE layer
  };
  for (const auto* v : ctx.pipelines().supported_variants("rope_kv_store"))
    for (const auto& c : cases) {
      CAPTURE(v->name);
      CAPTURE(c.heads);
      CAPTURE(c.head_dim);
      run_case(ctx, c, v->name);
    }
}

TEST_CASE_FIXTURE(GpuTest, "rope_kv_store: shapes are checked") {
  GpuBuf b(ctx, 64), pb(ctx, 4);
  KvCacheLayer cache{b.range(), b.range(), 4, 2, 4, 4};
  RopeConfig rope{.head_dim = 4, .n_rot = 4};
  Sequence seq(ctx.device());
  CHECK_THROWS_AS(record_rope_kv_store(ctx, seq, cache, rope, {.tokens = 1, .heads = 3}, b.range(), b.range(), b.range(),
                                       pb.range(), {}, {}, b.range()),
                  std::invalid_argument);  // 3 heads over 2 KV heads
  CHECK_THROWS_AS(record_rope_kv_store(ctx, seq, cache, rope, {.tokens = 1, .heads = 2, .norm = QkNorm::per_head}, b.range(),
                                       b.range(), b.range(), pb.range(), {}, {}, b.range()),
                  std::invalid_argument);  // norm without weights
  CHECK_THROWS_AS(record_rope_kv_store(ctx, seq, cache, rope, {.tokens = 9, .heads = 2}, b.range(), b.range(), b.range(),
                                       pb.range(), {}, {}, b.range()),
                  std::invalid_argument);  // inputs too short for 9 tokens
}

TEST_CASE_FIXTURE(GpuTest, "mla_rope_kv_store: RoPE of q and k_pe fused with the MLA cache store") {
  // 3 heads, nope 8, rope 4 (Dk 12), Dv 6; k_pe is the tail of a [lora 10 + rope 4] row.
  const uint32_t T = 5, NH = 3, nope = 8, rope = 4, Dk = nope + rope, dv = 6, lora = 10, n_ctx = 16;
  RopeConfig q_rope{.head_dim = Dk, .n_rot = rope, .rot_offset = nope, .freq_base = 10000.0f, .freq_scale = 0.5f,
                    .ext_factor = 1.0f, .n_ctx_orig = 32};
  RopeConfig pe_rope = q_rope;
  pe_rope.head_dim = lora + rope;
  pe_rope.rot_offset = lora;
  for (bool in_place : {true, false}) {
    CAPTURE(in_place);
    // q: packed and rotated in place, or read from a wider row (stride + 5, offset 3).
    const uint32_t q_stride = in_place ? NH * Dk : NH * Dk + 5, q_off = in_place ? 0 : 3;
    auto q_rows = random_floats(q_off + size_t(T) * q_stride);
    auto kv = random_floats(size_t(T) * NH * (nope + dv)), kv_a = random_floats(size_t(T) * (lora + rope));
    std::vector<uint32_t> pos = {7, 2, 11, 30, 0};  // 30 is past the cache: q only
    std::vector<float> q;
    for (uint32_t t = 0; t < T; ++t)
      q.insert(q.end(), q_rows.begin() + q_off + t * q_stride, q_rows.begin() + q_off + t * q_stride + NH * Dk);
    auto q_ref = rope_ref(q_rope, q, pos, NH), pe_ref = rope_ref(pe_rope, kv_a, pos, 1);
    GpuBuf qb(ctx, q_rows), kvb(ctx, kv), kab(ctx, kv_a), pb(ctx, pos), qo(ctx, size_t(T) * NH * Dk);
    GpuBuf kc(ctx, size_t(n_ctx) * NH * Dk / 2), vc(ctx, size_t(n_ctx) * NH * dv / 2);
    Sequence seq(ctx.device());
    qo.poison(seq);
    kc.poison(seq);
    vc.poison(seq);
    KvCacheLayer cache{kc.range(), vc.range(), n_ctx, NH, Dk, dv};
    record_mla_rope_kv_store(ctx, seq, cache, {.tokens = T, .nope = nope, .pe_stride = lora + rope, .pe_offset = lora}, q_rope,
                             kvb.range(), kab.range(), pb.range(), qb.range(), q_stride, q_off,
                             in_place ? qb.range() : qo.range());
    seq.run();
    CHECK(rel_l2(in_place ? qb.floats(ctx) : qo.floats(ctx), q_ref) < 1e-5);
    auto kg = kc.floats(ctx), vg = vc.floats(ctx);
    uint32_t wrong = 0, touched = 0;
    for (uint32_t row = 0; row < n_ctx; ++row) {
      const auto it = std::find(pos.begin(), pos.end(), row);
      const size_t t = size_t(it - pos.begin());
      for (uint32_t h = 0; h < NH; ++h) {
        for (uint32_t d = 0; d < Dk; ++d) {
          const size_t idx = (size_t(row) * NH + h) * Dk + d;
          if (it == pos.end()) touched += word(kg, idx / 2) != kPoisonBits;
          else wrong += f16_off(kg, idx, d < nope ? kv[(t * NH + h) * (nope + dv) + d] : pe_ref[t * (lora + rope) + lora + d - nope]);
        }
        for (uint32_t d = 0; d < dv; ++d) {
          const size_t idx = (size_t(row) * NH + h) * dv + d;
          if (it == pos.end()) touched += word(vg, idx / 2) != kPoisonBits;
          else wrong += f16_off(vg, idx, kv[(t * NH + h) * (nope + dv) + nope + d]);
        }
      }
    }
    CHECK(wrong == 0);
    CHECK(touched == 0);
  }
}
