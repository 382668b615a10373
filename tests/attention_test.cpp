// Attention against its double-precision CPU reference: the prefill kernel, the decode kernel
// (split-K, query heads grouped per KV head) and the tile kernel (query tiles sharing K/V) in
// every variant, GQA ratios 1-8, MLA-like and odd head widths, windows, sinks, chunks, softcap,
// ring caches; and choose_attention over fake device caps (no GPU needed).
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>

#include "runtime/kernels/transformer_ops.h"
#include "runtime/reference/ops_ref.h"
#include "runtime/vk/caps.h"
#include "runtime/vk/sequence.h"
#include "shaders/ops_params.h"
#include "tests/gpu_fixture.h"
#include "tests/ops_test_util.h"
#include "tests/test_util.h"

using namespace vkmoe;
using namespace vkmoe::test;

namespace {

// One way of running attention: a kernel variant and, unless empty, a forced choice.
struct AttnMode {
  std::string variant;
  std::optional<AttentionChoice> force;
  std::string name() const {
    std::string n = variant.empty() ? "auto" : variant;
    if (force && force->kernel != AttentionKernel::prefill)
      n += " group " + std::to_string(force->group) + " splits " + std::to_string(force->splits) + " block " +
           std::to_string(force->block);
    return n;
  }
};

// The tile kernel in every variant, forced at any token count: the chosen group with 16-key
// blocks (several per tile), and one head per workgroup (16 tokens a tile) with the largest block
// that fits; none where no block fits the device's shared memory (wide heads on 32 KiB).
void add_tile_modes(Context& ctx, const AttnCase& c, uint32_t group, std::vector<AttnMode>& m) {
  const uint32_t block = attention_tile_block(ctx.device().caps().max_shared_memory, c.head_dim, c.dv());
  if (!block) return;
  for (const auto* v : ctx.pipelines().supported_variants("attention_tile")) {
    m.push_back({v->name, AttentionChoice{.kernel = AttentionKernel::tile, .group = group, .block = 16}});
    m.push_back({v->name, AttentionChoice{.kernel = AttentionKernel::tile, .group = 1, .block = block}});
  }
}

// The modes every correctness case runs: both prefill variants; the decode kernel as chosen, and
// forced to several splits (3 and 5 divide few key counts), 32-key blocks (several per split),
// one head per workgroup, in both variants; the tile kernel (add_tile_modes).
std::vector<AttnMode> modes(Context& ctx, const AttnCase& c) {
  std::vector<AttnMode> m;
  for (const auto* v : ctx.pipelines().supported_variants("attention"))
    m.push_back({v->name, AttentionChoice{}});
  m.push_back({});
  const AttentionShape shape{.tokens = 1, .heads = c.heads};
  const KvCacheLayer layer{.kv_heads = c.kv_heads, .head_dim = c.head_dim, .v_head_dim = c.v_head_dim};
  const AttentionChoice chosen = choose_attention(ctx.device().caps(), layer, shape);
  const auto variants = ctx.pipelines().supported_variants("attention_decode");
  for (size_t i = 0; i < variants.size(); ++i) {
    const std::string v = variants[i]->name;
    AttentionChoice a = chosen, b = chosen, d = chosen;
    a.splits = 3, a.block = 32;
    b.splits = 5, b.block = 32, b.group = 1;
    d.splits = 1;
    m.push_back({v, a});
    m.push_back({v, b});
    if (i == 0) m.push_back({v, d});
  }
  add_tile_modes(ctx, c, chosen.group, m);
  return m;
}

std::vector<float> run_attention(Context& ctx, const KvCacheLayer& layer, uint32_t heads, uint32_t pos,
                                 std::span<const float> q, uint32_t tokens, const AttnMode& mode, uint32_t window = 0,
                                 std::span<const float> sinks = {}, bool chunked = false, float softcap = 0) {
  GpuBuf qb(ctx, q), ob(ctx, size_t(tokens) * heads * layer.dv());
  GpuBuf sb(ctx, sinks.empty() ? std::vector<float>{0.0f} : std::vector<float>(sinks.begin(), sinks.end()));
  GpuBuf scratch(ctx, attention_scratch_bytes(heads, layer.dv(), tokens, ATTN_MAX_SPLITS) / 4);
  Sequence seq(ctx.device());
  ob.poison(seq);
  scratch.poison(seq);
  AttentionShape s{.tokens = tokens, .pos = pos, .heads = heads, .window = window,
                   .sinks = sinks.empty() ? BufferRange{} : sb.range(), .chunked = chunked, .softcap = softcap,
                   .scratch = scratch.range()};
  record_attention(ctx, seq, layer, s, qb.range(), ob.range(), mode.variant, mode.force ? &*mode.force : nullptr);
  seq.run();
  return ob.floats(ctx);
}

std::vector<float> run_attention(Context& ctx, const TestCache& cache, uint32_t pos, std::span<const float> q,
                                 uint32_t tokens, const AttnMode& mode, uint32_t window = 0,
                                 std::span<const float> sinks = {}, bool chunked = false, float softcap = 0) {
  return run_attention(ctx, cache.layer(), cache.c.heads, pos, q, tokens, mode, window, sinks, chunked, softcap);
}

}  // namespace

TEST_CASE_FIXTURE(GpuTest, "attention: decode and prefill match the reference, GQA 1/2/4/8, head dims 64/128/72/odd") {
  struct Step {
    uint32_t pos, tokens;
  };
  const AttnCase cases[] = {{4, 4, 64, 320},     {8, 2, 128, 64},    {8, 1, 72, 64},  {2, 2, 72, 48},
                            {4, 4, 192, 64, 128}, {4, 2, 24, 40, 16}, {2, 1, 64, 40, 200},  // Dk != Dv
                            {6, 3, 18, 150, 10}};  // widths not multiples of 8 (word loads)
  for (const auto& c : cases)
    for (const AttnMode& mode : modes(ctx, c))
      for (Step st : {Step{0, 1}, Step{37, 1}, Step{20, 5}, Step{0, 8}, Step{c.n_ctx - 3, 3}, Step{c.n_ctx - 1, 1}}) {
        CAPTURE(mode.name());
        CAPTURE(c.heads);
        CAPTURE(c.kv_heads);
        CAPTURE(c.head_dim);
        CAPTURE(c.v_head_dim);
        CAPTURE(st.pos);
        CAPTURE(st.tokens);
        TestCache cache(ctx, c);
        cache.store(ctx, 0, st.pos + st.tokens);
        auto q = random_floats(size_t(st.tokens) * c.heads * c.head_dim, -2.0f, 2.0f);
        auto got = run_attention(ctx, cache, st.pos, q, st.tokens, mode);
        auto ref = attention_ref(q, cache.k_host, cache.v_host, st.tokens, st.pos, c.heads, c.kv_heads, c.head_dim,
                                 1.0 / std::sqrt(double(c.head_dim)), c.v_head_dim);
        CHECK(rel_l2(got, ref) < 1e-5);
      }
}

TEST_CASE_FIXTURE(GpuTest, "attention: sliding window and sinks (gpt-oss) match the reference at odd sizes") {
  struct Step {
    uint32_t pos, tokens;
  };
  const AttnCase cases[] = {{6, 2, 34, 80}, {3, 3, 72, 80}};
  for (const auto& c : cases)
    for (const AttnMode& mode : modes(ctx, c))
      for (uint32_t window : {0u, 1u, 5u, 70u})
        for (Step st : {Step{0, 1}, Step{3, 1}, Step{41, 1}, Step{9, 7}, Step{66, 13}}) {
          CAPTURE(mode.name());
          CAPTURE(c.heads);
          CAPTURE(c.head_dim);
          CAPTURE(window);
          CAPTURE(st.pos);
          CAPTURE(st.tokens);
          TestCache cache(ctx, c);
          cache.store(ctx, 0, st.pos + st.tokens);
          auto q = random_floats(size_t(st.tokens) * c.heads * c.head_dim, -2.0f, 2.0f);
          auto sinks = random_floats(c.heads, -3.0f, 3.0f);
          sinks[0] = 12.0f;  // a sink that outweighs every key: the output shrinks toward 0
          for (bool with_sinks : {false, true}) {
            const std::span<const float> sk = with_sinks ? std::span<const float>(sinks) : std::span<const float>{};
            auto got = run_attention(ctx, cache, st.pos, q, st.tokens, mode, window, sk);
            auto ref = attention_ref(q, cache.k_host, cache.v_host, st.tokens, st.pos, c.heads, c.kv_heads, c.head_dim,
                                     1.0 / std::sqrt(double(c.head_dim)), 0, window, sk);
            CHECK(rel_l2(got, ref) < 1e-5);
          }
        }
}

TEST_CASE_FIXTURE(GpuTest, "attention: chunked (llama4) sees only its own chunk, at odd sizes and chunk boundaries") {
  const AttnCase c{6, 2, 34, 80};
  for (const AttnMode& mode : modes(ctx, c))
    for (uint32_t chunk : {1u, 5u, 64u})
      for (auto [pos, tokens] : {std::pair{0u, 1u}, {4u, 1u}, {5u, 1u}, {63u, 1u}, {64u, 1u}, {9u, 7u}, {62u, 13u}}) {
        CAPTURE(mode.name());
        CAPTURE(chunk);
        CAPTURE(pos);
        CAPTURE(tokens);
        TestCache cache(ctx, c);
        cache.store(ctx, 0, pos + tokens);
        auto q = random_floats(size_t(tokens) * c.heads * c.head_dim, -2.0f, 2.0f);
        auto got = run_attention(ctx, cache, pos, q, tokens, mode, chunk, {}, true);
        auto ref = attention_ref(q, cache.k_host, cache.v_host, tokens, pos, c.heads, c.kv_heads, c.head_dim,
                                 1.0 / std::sqrt(double(c.head_dim)), 0, chunk, {}, true);
        CHECK(rel_l2(got, ref) < 1e-5);
      }
}

// Grok's cap: q scaled up so that most scores pass it (tanh saturates), decode and prefill.
TEST_CASE_FIXTURE(GpuTest, "attention: score softcap (Grok) matches the reference") {
  const AttnCase c{6, 2, 34, 80};
  for (const AttnMode& mode : modes(ctx, c))
    for (uint32_t tokens : {1u, 7u}) {
      CAPTURE(mode.name());
      CAPTURE(tokens);
      TestCache cache(ctx, c);
      cache.store(ctx, 0, 9 + tokens);
      auto q = random_floats(size_t(tokens) * c.heads * c.head_dim, -8.0f, 8.0f);
      auto got = run_attention(ctx, cache, 9, q, tokens, mode, 0, {}, false, 3.0f);
      auto ref = attention_ref(q, cache.k_host, cache.v_host, tokens, 9, c.heads, c.kv_heads, c.head_dim,
                               1.0 / std::sqrt(double(c.head_dim)), 0, 0, {}, false, 3.0);
      auto uncapped = attention_ref(q, cache.k_host, cache.v_host, tokens, 9, c.heads, c.kv_heads, c.head_dim,
                                    1.0 / std::sqrt(double(c.head_dim)));
      CHECK(rel_l2(got, ref) < 1e-5);
      CHECK(rel_l2(got, uncapped) > 1e-2);  // the cap bites
    }
}

// A sliding-window layer's ring (rows = window + batch - 1, key j in row j % rows): queries whose
// window wraps around the ring's end, against the reference over the unwrapped keys.
TEST_CASE_FIXTURE(GpuTest, "attention: ring caches wrap around, every mode") {
  const AttnCase c{8, 2, 40, 300};
  const uint32_t window = 37;
  for (uint32_t tokens : {1u, 4u}) {
    const uint32_t ring = window + tokens - 1;
    for (const AttnMode& mode : modes(ctx, c))
      for (uint32_t pos : {0u, 20u, 36u, 40u, 111u, 296u - tokens}) {
        CAPTURE(mode.name());
        CAPTURE(tokens);
        CAPTURE(pos);
        const uint32_t kw = c.kv_heads * c.head_dim, n = pos + tokens;
        auto k = random_floats(size_t(n) * kw), v = random_floats(size_t(n) * kw);
        std::vector<uint32_t> kr(size_t(ring) * kw / 2), vr(size_t(ring) * kw / 2);
        for (uint32_t j = n > ring ? n - ring : 0; j < n; ++j)  // the rows the ring holds now
          for (uint32_t i = 0; i < kw; ++i) {
            k[size_t(j) * kw + i] = round_f16(k[size_t(j) * kw + i]);
            v[size_t(j) * kw + i] = round_f16(v[size_t(j) * kw + i]);
            const size_t w = (size_t(j % ring) * kw + i) / 2, sh = (i & 1) * 16;
            kr[w] |= uint32_t(f32_to_f16(k[size_t(j) * kw + i])) << sh;
            vr[w] |= uint32_t(f32_to_f16(v[size_t(j) * kw + i])) << sh;
          }
        GpuBuf kb(ctx, kr), vb(ctx, vr);
        const KvCacheLayer layer{kb.range(), vb.range(), c.n_ctx, c.kv_heads, c.head_dim, 0, ring};
        auto q = random_floats(size_t(tokens) * c.heads * c.head_dim, -2.0f, 2.0f);
        auto got = run_attention(ctx, layer, c.heads, pos, q, tokens, mode, window);
        auto ref = attention_ref(q, k, v, tokens, pos, c.heads, c.kv_heads, c.head_dim,
                                 1.0 / std::sqrt(double(c.head_dim)), 0, window);
        CHECK(rel_l2(got, ref) < 1e-5);
      }
  }
}

TEST_CASE_FIXTURE(GpuTest, "attention: long prefill, then decode, equals attention over everything at once") {
  const AttnCase c{4, 1, 64, 320};
  const uint32_t prefill = 310, decode = 4, total = prefill + decode;
  TestCache cache(ctx, c);
  cache.store(ctx, 0, prefill);
  const uint32_t row = c.heads * c.head_dim;
  auto q = random_floats(size_t(total) * row, -2.0f, 2.0f);
  std::vector<float> stepwise = run_attention(ctx, cache, 0, std::span(q).first(size_t(prefill) * row), prefill, {});
  for (uint32_t t = prefill; t < total; ++t) {
    cache.store(ctx, t, 1);
    auto o = run_attention(ctx, cache, t, std::span(q).subspan(size_t(t) * row, row), 1, {});
    stepwise.insert(stepwise.end(), o.begin(), o.end());
  }
  auto all = run_attention(ctx, cache, 0, q, total, {});
  CHECK(rel_l2(stepwise, all) < 1e-6);
  auto ref = attention_ref(q, cache.k_host, cache.v_host, total, 0, c.heads, c.kv_heads, c.head_dim, 0.125);
  CHECK(rel_l2(all, ref) < 1e-5);
}

// The tile kernel at prefill lengths: odd token counts (tiles partly past the end), odd key
// counts, GQA ratios 1/2/4/8 and the models' head widths, every mode (window, sinks, chunk,
// softcap) at once per case; cache rows past the batch hold f16 NaN, so a kernel that reads them
// (even with weight 0) fails.
TEST_CASE_FIXTURE(GpuTest, "attention: the tile kernel at prefill lengths matches the reference in every mode") {
  struct Mode {
    uint32_t window;
    bool sinks, chunked;
    float softcap;
  };
  const AttnCase cases[] = {{8, 8, 64, 400},  {8, 4, 64, 400},       {16, 4, 128, 400}, {8, 1, 64, 400},
                            {16, 2, 128, 400}, {4, 4, 192, 400, 128}, {6, 3, 18, 400, 10}};
  const Mode kinds[] = {{0, false, false, 0}, {70, true, false, 0}, {5, false, false, 0},
                        {64, false, true, 0}, {0, true, false, 3.0f}};
  for (const auto& c : cases) {
    const KvCacheLayer probe{.kv_heads = c.kv_heads, .head_dim = c.head_dim, .v_head_dim = c.v_head_dim};
    const AttentionChoice chosen = choose_attention(ctx.device().caps(), probe, {.tokens = 129, .heads = c.heads});
    std::vector<AttnMode> ms;
    add_tile_modes(ctx, c, chosen.group, ms);
    ms.push_back({});  // as chosen
    for (const AttnMode& mode : ms)
      for (const Mode& k : kinds)
        for (auto [pos, tokens] : {std::pair{0u, 37u}, {5u, 129u}, {70u, 37u}, {200u, 17u}}) {
          CAPTURE(mode.name());
          CAPTURE(c.heads);
          CAPTURE(c.kv_heads);
          CAPTURE(c.head_dim);
          CAPTURE(c.v_head_dim);
          CAPTURE(k.window);
          CAPTURE(k.chunked);
          CAPTURE(k.softcap);
          CAPTURE(pos);
          CAPTURE(tokens);
          TestCache cache(ctx, c);
          {
            Sequence seq(ctx.device());
            seq.fill(cache.k.range(), 0x7e007e00u);  // f16 NaN pairs
            seq.fill(cache.v.range(), 0x7e007e00u);
            seq.run();
          }
          cache.store(ctx, 0, pos + tokens);
          auto q = random_floats(size_t(tokens) * c.heads * c.head_dim, -2.0f, 2.0f);
          auto sinks = random_floats(c.heads, -3.0f, 3.0f);
          const std::span<const float> sk = k.sinks ? std::span<const float>(sinks) : std::span<const float>{};
          auto got = run_attention(ctx, cache, pos, q, tokens, mode, k.window, sk, k.chunked, k.softcap);
          auto ref = attention_ref(q, cache.k_host, cache.v_host, tokens, pos, c.heads, c.kv_heads, c.head_dim,
                                   1.0 / std::sqrt(double(c.head_dim)), c.v_head_dim, k.window, sk, k.chunked,
                                   k.softcap);
          CHECK(rel_l2(got, ref) < 1e-5);
        }
  }
}

TEST_CASE_FIXTURE(GpuTest, "attention: shapes outside the supported range are refused") {
  TestCache cache(ctx, {4, 2, 64, 16});
  GpuBuf q(ctx, 6 * 64 * 4);
  Sequence seq(ctx.device());
  AttentionShape s{.tokens = 4, .pos = 13, .heads = 4};
  CHECK_THROWS_WITH(record_attention(ctx, seq, cache.layer(), s, q.range(), q.range()), doctest::Contains("n_ctx"));
  s = {.tokens = 1, .pos = 0, .heads = 5};
  CHECK_THROWS_WITH(record_attention(ctx, seq, cache.layer(), s, q.range(), q.range()),
                    doctest::Contains("not a multiple"));
  s = {.tokens = 1, .pos = 3, .heads = 4};
  AttentionChoice c{.kernel = AttentionKernel::decode, .group = 2, .splits = 4, .block = 64};
  CHECK_THROWS_WITH(record_attention(ctx, seq, cache.layer(), s, q.range(), q.range(), "", &c),
                    doctest::Contains("scratch"));
  c = {.kernel = AttentionKernel::decode, .group = 4, .splits = 1, .block = 64};  // 2 query heads per KV head
  CHECK_THROWS_WITH(record_attention(ctx, seq, cache.layer(), s, q.range(), q.range(), "", &c),
                    doctest::Contains("decode group"));
  c = {.kernel = AttentionKernel::tile, .group = 2, .block = 48};
  CHECK_THROWS_WITH(record_attention(ctx, seq, cache.layer(), s, q.range(), q.range(), "", &c),
                    doctest::Contains("tile block"));
  const uint32_t shared = ctx.device().caps().max_shared_memory;
  c.block = 16;
  while (c.block <= kAttnTileMaxBlock && attention_tile_shared(64, 64, c.block) <= shared) c.block *= 2;
  if (c.block <= kAttnTileMaxBlock)  // a block past the device's shared memory
    CHECK_THROWS_WITH(record_attention(ctx, seq, cache.layer(), s, q.range(), q.range(), "", &c),
                      doctest::Contains("shared memory"));
}

namespace {

DeviceCaps fake_caps(VkPhysicalDeviceType type, uint32_t shared, uint64_t vram_gib = 0) {
  DeviceCaps c;
  c.type = type;
  c.max_shared_memory = shared;
  c.subgroup_size = type == VK_PHYSICAL_DEVICE_TYPE_CPU ? 8 : 32;
  c.heaps.push_back({.size = vram_gib << 30, .budget = vram_gib << 30, .device_local = true});
  return c;
}

}  // namespace

TEST_CASE("choose_attention: kernel, group, splits and block from fake device caps") {
  const DeviceCaps gpu = fake_caps(VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU, 48 << 10, 24);
  const DeviceCaps small = fake_caps(VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU, 16 << 10);
  const DeviceCaps cpu = fake_caps(VK_PHYSICAL_DEVICE_TYPE_CPU, 32 << 10);
  CHECK(attention_target_workgroups(gpu) == 384);
  CHECK(attention_target_workgroups(fake_caps(VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU, 48 << 10, 4)) == 128);
  CHECK(attention_target_workgroups(fake_caps(VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU, 48 << 10, 141)) == 1024);
  CHECK(attention_target_workgroups(small) == 64);
  CHECK(attention_target_workgroups(cpu) >= 1);

  const KvCacheLayer gqa{.kv_heads = 4, .head_dim = 64};  // the reference model: 8 / 4 heads of 64
  const uint64_t room = attention_scratch_bytes(8, 64, 1, ATTN_MAX_SPLITS);
  const BufferRange scratch{VK_NULL_HANDLE, 0, room};
  AttentionShape s{.tokens = 1, .pos = 2047, .heads = 8, .scratch = scratch};
  AttentionChoice c = choose_attention(gpu, gqa, s);
  CHECK(c.kernel == AttentionKernel::decode);
  CHECK(c.group == 2);
  CHECK(c.block == 1024);
  CHECK(c.splits == 32);  // 4 groups want 96 splits: capped at ATTN_MAX_SPLITS (2048 keys allow 32)
  CHECK(choose_attention(small, gqa, s).block == 64);
  CHECK(choose_attention(cpu, gqa, s).block == 512);
  CHECK(choose_attention(small, gqa, s).splits == 16);  // 64 workgroups / 4 groups

  s.pos = 100;  // 101 keys: 2 splits of >= 64 keys at most
  CHECK(choose_attention(gpu, gqa, s).splits == 2);
  s.pos = 2047, s.window = 128;  // a window bounds the keys as well
  CHECK(choose_attention(gpu, gqa, s).splits == 2);
  s.window = 0, s.scratch = BufferRange{VK_NULL_HANDLE, 0, room / 4};  // 8 splits fit the scratch
  CHECK(choose_attention(gpu, gqa, s).splits == 8);
  s.scratch = {};
  CHECK(choose_attention(gpu, gqa, s).splits == 1);
  s.scratch = scratch, s.tokens = 4;  // 16 groups; the scratch holds 32 splits of one token: 8 of four
  CHECK(choose_attention(gpu, gqa, s).splits == 8);
  s.tokens = kAttnTileMinTokens - 1;  // below the tile kernel's threshold
  c = choose_attention(gpu, gqa, s);
  CHECK(c.kernel == AttentionKernel::decode);
  CHECK(c.splits == 2);  // the scratch holds 32 splits of one token: 2 of fifteen

  // From kAttnTileMinTokens: the tile kernel, its block the largest that fits the shared memory,
  // on a GPU once its workgroups (4 groups x tokens / 8) reach a quarter of the target.
  s.tokens = kAttnTileMinTokens;
  CHECK(choose_attention(gpu, gqa, s).kernel == AttentionKernel::decode);  // 8 workgroups < 384 / 4
  CHECK(choose_attention(small, gqa, s).kernel == AttentionKernel::decode);  // 8 < 64 / 4
  s.tokens = 185;  // 24 tiles x 4 groups = 96 = 384 / 4
  c = choose_attention(gpu, gqa, s);
  CHECK(c.kernel == AttentionKernel::tile);
  CHECK(c.group == 2);
  CHECK(c.block == 128);  // 48 KiB
  s.tokens = 184;  // 23 tiles
  CHECK(choose_attention(gpu, gqa, s).kernel == AttentionKernel::decode);
  s.tokens = 32;  // 16 workgroups = a quarter of the integrated GPU's 64
  CHECK(choose_attention(small, gqa, s).kernel == AttentionKernel::tile);
  CHECK(choose_attention(small, gqa, s).block == 32);  // 16 KiB
  s.tokens = 2048;
  CHECK(choose_attention(cpu, gqa, s).kernel == AttentionKernel::tile);
  CHECK(choose_attention(cpu, gqa, s).block == 64);  // 32 KiB
  const KvCacheLayer wide{.kv_heads = 4, .head_dim = 256};  // 256-wide heads: no block fits 32 KiB
  c = choose_attention(cpu, wide, s);
  CHECK(c.kernel == AttentionKernel::decode);
  CHECK(c.block == 512);
  c = choose_attention(fake_caps(VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU, 64 << 10, 24), wide, s);
  CHECK(c.kernel == AttentionKernel::tile);
  CHECK(c.block == 32);
  for (uint32_t b = kAttnTileMinBlock; b <= kAttnTileMaxBlock; b *= 2)  // each block is the largest that fits
    for (uint32_t d : {18u, 64u, 128u, 192u, 256u}) {
      const uint32_t need = attention_tile_shared(d, d, b);
      CHECK(attention_tile_block(need + 256, d, d) == b);
      CHECK(attention_tile_block(need + 255, d, d) == (b == kAttnTileMinBlock ? 0 : b / 2));
    }

  // Groups: the largest power of two up to ATTN_DECODE_GROUP dividing the GQA ratio.
  auto group = [&](uint32_t heads, uint32_t kv_heads) {
    return choose_attention(gpu, {.kv_heads = kv_heads, .head_dim = 128}, {.tokens = 1, .pos = 10, .heads = heads}).group;
  };
  CHECK(group(32, 32) == 1);  // MHA, and MLA run decompressed
  CHECK(group(64, 4) == 8);
  CHECK(group(6, 2) == 1);
  CHECK(group(12, 2) == 2);
  CHECK(group(64, 8) == 8);
}

// Not a check: the decode and tile kernels timed on the reference model's attention shape (8 / 4
// heads of 64), batches of 16, 64 and 512 tokens at depth 0 and 2048, alternated in one process. Run with
// `attention_test -tc='*timing*' --no-skip`.
TEST_CASE_FIXTURE(GpuTest, "attention: decode vs tile kernel timing (reference shape)" * doctest::skip()) {
  const AttnCase c{8, 4, 64, 2560};
  TestCache cache(ctx, c);
  cache.store(ctx, 0, c.n_ctx);
  auto q = random_floats(size_t(512) * c.heads * c.head_dim, -2.0f, 2.0f);
  GpuBuf qb(ctx, q), ob(ctx, size_t(512) * c.heads * c.head_dim);
  const DeviceCaps& caps = ctx.device().caps();
  for (auto [pos, tokens] : {std::pair{0u, 16u}, {2048u, 16u}, {0u, 64u}, {2048u, 64u}, {0u, 512u}, {2048u, 512u}}) {
    const AttentionShape s{.tokens = tokens, .pos = pos, .heads = c.heads};
    AttentionChoice tile = choose_attention(caps, cache.layer(), s);
    AttentionChoice dec = choose_attention(caps, cache.layer(), {.tokens = 1, .pos = pos, .heads = c.heads});
    dec.splits = 1;
    std::vector<double> ms[2];
    for (int round = 0; round < 3; ++round)
      for (int k = 0; k < 2; ++k) {
        Sequence seq(ctx.device());
        record_attention(ctx, seq, cache.layer(), s, qb.range(), ob.range(), "", k ? &tile : &dec);
        const auto t0 = std::chrono::steady_clock::now();
        seq.run();
        ms[k].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      }
    for (auto& m : ms) std::sort(m.begin(), m.end());
    MESSAGE("depth " << pos << ", " << tokens << " tokens: decode ms " << ms[0][0] << " / " << ms[0][1] << " / " << ms[0][2]
                     << ", tile ms " << ms[1][0] << " / " << ms[1][1] << " / " << ms[1][2]);
  }
}
