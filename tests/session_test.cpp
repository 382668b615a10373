// Sessions on one loaded model: interleaved sessions give exactly the logits of each run alone,
// a batched decode step of several sessions (at different positions) matches each session's own
// decode and leaves its KV cache as that would, a reset session reuses its cache, and the pool
// of planned caches is enforced. On the demo model and on synthetic models whose row widths are
// not multiples of the binding alignment (so a batched step binds padded per-session rows).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "runtime/model/demo_model.h"
#include "runtime/model/generator.h"
#include "runtime/model/model.h"
#include "runtime/model/synthetic_model.h"
#include "runtime/vk/context.h"
#include "runtime/vk/sequence.h"
#include "tests/gpu_fixture.h"
#include "tests/model_test_util.h"
#include "tests/test_util.h"

using namespace vkmoe;
using namespace vkmoe::test;

namespace {

std::vector<ModelFile> models() {
  std::vector<ModelFile> out;
  out.push_back({"demo", make_demo_model()});
  // 3 heads of 14: q rows of 168 bytes, attention rows of 168: padded per session; q, k, v of
  // different types (three matvecs), biases and a shared expert.
  out.push_back({"qwen2moe, odd widths, unfused q|k|v",
                 make_synthetic_model({.arch = Arch::qwen2moe, .n_head = 3, .n_head_kv = 1, .head_dim = 14,
                                       .attn_v_type = int(GgmlType::F16), .seed = rng()()})
                     .to_bytes()});
  // MLA with 3 heads, Dv = 10: attention rows of 120 bytes and kv rows of 312, padded per session.
  SyntheticSpec lite{.arch = Arch::deepseek2, .n_layer = 3, .n_head = 3, .v_head_dim = 10, .seed = rng()()};
  out.push_back({"deepseek2 V2-Lite form", make_synthetic_model(lite).to_bytes()});
  out.push_back({"deepseek2 V3 form", make_synthetic_model(deepseek_v3_form(lite)).to_bytes()});
  return out;
}

Model load(Context& ctx, const ModelFile& c, uint32_t sessions) {
  return Model(ctx, GgufFile::from_memory(c.bytes, c.name + ".gguf"),
               {.n_ctx = 48, .n_batch = 8, .n_parallel = sessions, .progress = false});
}

// f16 K and V rows 0 .. rows - 1 of every layer of a session's cache.
std::vector<uint16_t> read_cache(Context& ctx, const Session& s, uint32_t rows) {
  const ModelConfig& c = s.model().config();
  std::vector<uint16_t> out;
  for (uint32_t l = 0; l < c.n_layer; ++l) {
    const KvCacheLayer& kv = s.kv(l);
    for (auto [r, width] : {std::pair{kv.k, kv.head_dim}, {kv.v, kv.dv()}}) {
      const uint64_t bytes = uint64_t(rows) * kv.kv_heads * width * 2;
      Buffer dst = ctx.allocator().create_buffer(bytes, MemoryUse::readback, "test cache copy");
      Sequence seq(ctx.device(), {.name = "test cache copy"});
      seq.copy({r.buffer, r.offset, bytes}, dst.range(0, bytes));
      seq.run();
      const size_t at = out.size();
      out.resize(at + bytes / 2);
      ctx.transfer().download(dst, 0, out.data() + at, bytes);
    }
  }
  return out;
}

bool same_bits(std::span<const float> a, std::span<const float> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
}

// One conversation: a prompt, then fixed tokens one at a time (not sampled, so that a run alone
// and an interleaved or batched run feed the same tokens).
struct Script {
  std::vector<int32_t> prompt, next;
};

struct Trace {
  std::vector<std::vector<float>> logits;  // after the prompt, then after each next token
  std::vector<uint16_t> cache;
  RoutingSnapshot routing;
};

Trace run_alone(Context& ctx, Model& m, const Script& s) {
  Session session(m);
  Trace t;
  t.logits.push_back(m.forward(session, s.prompt));
  for (int32_t tok : s.next) t.logits.push_back(m.forward(session, std::span<const int32_t>(&tok, 1)));
  t.cache = read_cache(ctx, session, session.position());
  t.routing = session.routing();
  return t;
}

Script random_script(uint32_t prompt, uint32_t steps, uint32_t vocab) {
  return {random_tokens(prompt, vocab), random_tokens(steps, vocab)};
}

}  // namespace

TEST_CASE_FIXTURE(GpuTest, "sessions: two sessions interleaved token by token give the logits of each run alone, bit for bit") {
  for (const ModelFile& c : models()) {
    CAPTURE(c.name);
    Model m = load(ctx, c, 2);
    const uint32_t V = m.config().n_vocab;
    const Script sa = random_script(11, 6, V), sb = random_script(5, 6, V);  // 11 > n_batch: two prefill passes
    const Trace ta = run_alone(ctx, m, sa), tb = run_alone(ctx, m, sb);
    Session a(m), b(m);
    CHECK(same_bits(m.forward(a, sa.prompt), ta.logits[0]));
    CHECK(same_bits(m.forward(b, sb.prompt), tb.logits[0]));
    for (size_t i = 0; i < sa.next.size(); ++i) {
      CAPTURE(i);
      CHECK(same_bits(m.forward(a, std::span<const int32_t>(&sa.next[i], 1)), ta.logits[i + 1]));
      CHECK(same_bits(m.forward(b, std::span<const int32_t>(&sb.next[i], 1)), tb.logits[i + 1]));
    }
    CHECK(a.position() == sa.prompt.size() + sa.next.size());
    CHECK(read_cache(ctx, a, a.position()) == ta.cache);
    CHECK(read_cache(ctx, b, b.position()) == tb.cache);
    // Each session keeps its own routing: the last token's choices and its own counts.
    CHECK(a.routing().ids == ta.routing.ids);
    CHECK(a.routing().counts == ta.routing.counts);
    CHECK(b.routing().counts == tb.routing.counts);
    CHECK(a.routing().counts != b.routing().counts);
  }
}

// The batched step runs the matmuls, router and experts with T = 3 where each session alone ran
// T = 1: the T = 3 matrix-vector kernels (and a batched expert path, where chosen) may sum in
// another order, so logits agree to rounding, not bit for bit. kBatchTolerance bounds the
// largest difference relative to the largest logit: f32 rounding through a few layers is ~1e-6;
// a wrong position, cache or row would be off by O(1).
constexpr double kBatchTolerance = 1e-4;

TEST_CASE_FIXTURE(GpuTest, "sessions: a batched decode step of 3 sessions at different positions matches each session's own decode") {
  for (const ModelFile& c : models()) {
    CAPTURE(c.name);
    Model m = load(ctx, c, 3);
    const uint32_t V = m.config().n_vocab;
    const Script scripts[3] = {random_script(3, 5, V), random_script(9, 5, V), random_script(6, 5, V)};
    std::vector<Trace> alone;
    for (const Script& s : scripts) alone.push_back(run_alone(ctx, m, s));
    Session s0(m), s1(m), s2(m);
    Session* sessions[3] = {&s0, &s1, &s2};
    for (int i = 0; i < 3; ++i) CHECK(same_bits(m.forward(*sessions[i], scripts[i].prompt), alone[i].logits[0]));
    double worst = 0;
    for (size_t step = 0; step < scripts[0].next.size(); ++step) {
      CAPTURE(step);
      const int32_t tokens[3] = {scripts[0].next[step], scripts[1].next[step], scripts[2].next[step]};
      const std::vector<float> rows = m.decode(sessions, tokens);
      REQUIRE(rows.size() == 3ull * V);
      for (int i = 0; i < 3; ++i) {
        const std::vector<float>& want = alone[i].logits[step + 1];
        double diff = 0, scale = 0;
        for (uint32_t v = 0; v < V; ++v) {
          diff = std::max(diff, std::fabs(double(rows[i * V + v]) - want[v]));
          scale = std::max(scale, std::fabs(double(want[v])));
        }
        worst = std::max(worst, diff / std::max(scale, 1.0));
        CHECK(diff <= kBatchTolerance * std::max(scale, 1.0));
      }
    }
    MESSAGE(c.name << ": batched decode vs alone, largest logit difference " << worst << " of the largest logit");
    for (int i = 0; i < 3; ++i) {
      CAPTURE(i);
      CHECK(sessions[i]->position() == alone[i].logits.size() - 1 + scripts[i].prompt.size());
      // The cache rows each step stored: the same f16 values as alone, to one unit in the last place.
      const std::vector<uint16_t> cache = read_cache(ctx, *sessions[i], sessions[i]->position());
      REQUIRE(cache.size() == alone[i].cache.size());
      size_t off_by_more = 0;
      for (size_t j = 0; j < cache.size(); ++j)
        off_by_more += std::abs(int(cache[j]) - int(alone[i].cache[j])) > 1;
      CHECK(off_by_more == 0);
      CHECK(sessions[i]->routing().counts == alone[i].routing.counts);
    }
  }
}

TEST_CASE_FIXTURE(GpuTest, "sessions: a reset session reuses its cache as a fresh one would") {
  for (const ModelFile& c : models()) {
    CAPTURE(c.name);
    Model m = load(ctx, c, 2);
    const uint32_t V = m.config().n_vocab;
    const Script first = random_script(20, 3, V), second = random_script(4, 4, V);
    const Trace fresh = run_alone(ctx, m, second);
    Session s(m);
    m.forward(s, first.prompt);
    for (int32_t tok : first.next) m.forward(s, std::span<const int32_t>(&tok, 1));
    s.reset();
    s.reset_stats();
    CHECK(s.position() == 0);
    // Rows 4.. still hold the first conversation: attention must not see them.
    CHECK(same_bits(m.forward(s, second.prompt), fresh.logits[0]));
    for (size_t i = 0; i < second.next.size(); ++i)
      CHECK(same_bits(m.forward(s, std::span<const int32_t>(&second.next[i], 1)), fresh.logits[i + 1]));
    CHECK(s.routing().counts == fresh.routing.counts);
  }
}

TEST_CASE_FIXTURE(GpuTest, "sessions: the planned caches are a pool; bad decode calls are refused") {
  const ModelFile demo{"demo", make_demo_model()};
  Model m = load(ctx, demo, 2);
  CHECK(m.free_sessions() == 2);
  auto a = std::make_unique<Session>(m);
  Session b(m);
  CHECK(m.free_sessions() == 0);
  try {
    Session c(m);
    FAIL("a third session on a model planned for 2");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("-np") != std::string::npos);
  }
  a.reset();  // destroyed: its cache goes back to the pool
  CHECK(m.free_sessions() == 1);
  Session c(m);
  const int32_t two[2] = {1, 2};
  Session* dup[2] = {&b, &b};
  CHECK_THROWS_AS(m.decode(dup, two), std::invalid_argument);
  Session* one[1] = {&b};
  CHECK_THROWS_AS(m.decode(one, two), std::invalid_argument);
  const int32_t bad[1] = {int32_t(m.config().n_vocab)};
  CHECK_THROWS_AS(m.decode(one, bad), std::out_of_range);
  b.set_position(m.n_ctx());
  const int32_t ok[1] = {1};
  CHECK_THROWS_AS(m.decode(one, ok), std::out_of_range);
  CHECK(b.position() == m.n_ctx());  // a refused call changes nothing
  // The default session is one of the planned ones too.
  CHECK_THROWS_AS(m.default_session(), std::runtime_error);
}

TEST_CASE_FIXTURE(GpuTest, "sessions: a Generator runs in its own session") {
  const ModelFile demo{"demo", make_demo_model()};
  Model m = load(ctx, demo, 2);
  auto file = GgufFile::from_memory(demo.bytes, "demo.gguf");
  const Tokenizer tok = Tokenizer::from_gguf(file);
  Session a(m), b(m);
  Generator ga(a, tok, {.temperature = 0}), gb(b, tok, {.temperature = 0});
  const std::vector<int32_t> prompt = tok.encode("Hello there", true);
  std::string ta, tb;
  ga.feed(prompt);
  gb.feed(prompt);
  ga.generate(6, [&](const std::string& s) { ta += s; });
  gb.generate(6, [&](const std::string& s) { tb += s; });
  CHECK(ta == tb);
  CHECK(a.position() == b.position());
  CHECK(ga.position() == a.position());
  ga.reset();
  CHECK(a.position() == 0);
  CHECK(b.position() > 0);
}
