// The GPU forward pass against the double-precision CPU reference and against the logits
// another implementation computed for ../shared/models, for each architecture.
#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime/model/model.h"
#include "runtime/model/synthetic_model.h"
#include "runtime/reference/forward_ref.h"
#include "runtime/sampling/sampler.h"
#include "tests/gpu_fixture.h"
#include "tests/model_test_util.h"
#include "tests/test_util.h"

using namespace vkmoe;
using namespace vkmoe::test;

namespace {

// Greedy decoding on the GPU: one prefill, then one token per step through the KV cache.
std::vector<int32_t> gpu_greedy(Model& m, std::span<const int32_t> prompt, int steps) {
  std::vector<int32_t> out;
  auto logits = m.forward(prompt, 0);
  uint32_t pos = static_cast<uint32_t>(prompt.size());
  for (int s = 0; s < steps; ++s) {
    int32_t next = argmax(logits);
    out.push_back(next);
    if (s + 1 < steps) logits = m.forward(std::span<const int32_t>(&next, 1), pos++);
  }
  return out;
}

}  // namespace

TEST_CASE_FIXTURE(GpuTest, "GPU forward matches the shared models' expected logits and greedy tokens") {
  auto dir = shared_dir();
  if (dir.empty()) {
    MESSAGE("../shared not present: skipped");
    return;
  }
  for (std::string name : {"qwen3moe-tiny-f32", "mixtral-tiny-q4k"}) {
    CAPTURE(name);
    std::ifstream jf(dir / "models" / (name + ".expected.json"));
    auto j = nlohmann::json::parse(jf);
    auto prompt = j["prompt_tokens"].get<std::vector<int32_t>>();
    auto greedy = j["greedy_continuation"].get<std::vector<int32_t>>();
    const uint32_t V = j["n_vocab"].get<uint32_t>();
    std::vector<float> expected(prompt.size() * V);
    std::ifstream lf(dir / "models" / j["logits_file"].get<std::string>(), std::ios::binary);
    lf.read(reinterpret_cast<char*>(expected.data()), static_cast<std::streamsize>(expected.size() * 4));

    Model m(ctx, GgufFile::open(dir / "models" / (name + ".gguf")), {.n_ctx = 64, .n_batch = 16, .progress = false});
    auto logits = m.forward(prompt, 0, LogitsMode::all);
    double err = rel_l2(logits, expected);
    MESSAGE(name << ": GPU vs expected logits, relative L2 " << err);
    CHECK(err < 1e-3);
    for (size_t r = 0; r < prompt.size(); ++r)
      CHECK(argmax(std::span<const float>(logits).subspan(r * V, V)) ==
            argmax(std::span<const float>(expected).subspan(r * V, V)));
    CHECK(gpu_greedy(m, prompt, static_cast<int>(greedy.size())) == greedy);
  }
}

TEST_CASE_FIXTURE(GpuTest, "every architecture on the GPU matches the CPU reference") {
  struct Case {
    Arch arch;
    GgmlType type;
    double bound;
  };
  const Case cases[] = {
      {Arch::qwen3moe, GgmlType::F32, 1e-3}, {Arch::qwen2moe, GgmlType::F32, 1e-3}, {Arch::mixtral, GgmlType::F32, 1e-3},
      {Arch::olmoe, GgmlType::F32, 1e-3},    {Arch::qwen3moe, GgmlType::F16, 1e-2}, {Arch::qwen2moe, GgmlType::Q8_0, 1e-3},
      {Arch::mixtral, GgmlType::Q4_K, 1e-3},
  };
  for (const auto& c : cases) {
    std::string arch = arch_name(c.arch);
    CAPTURE(arch);
    std::string type_s(ggml_type_name(c.type));
    CAPTURE(type_s);
    SyntheticSpec spec{.arch = c.arch, .matrix_type = c.type, .seed = rng()()};
    if (c.type == GgmlType::Q4_K) spec.n_embd = 256, spec.n_ff_exp = 256, spec.n_ff_shexp = 256, spec.head_dim = 64;
    // 13 tokens in two batches of 8 and 5.
    const double err = synthetic_gpu_error(ctx, make_synthetic_model(spec).to_bytes(), 64);
    if (err < 0) continue;
    MESSAGE(arch << " " << type_s << ": relative L2 " << err);
    CHECK(err < c.bound);
  }
}

TEST_CASE_FIXTURE(GpuTest, "prefill then decode gives the logits of recomputing everything") {
  SyntheticSpec spec{.arch = Arch::qwen3moe, .seed = rng()()};
  auto bytes = make_synthetic_model(spec).to_bytes();
  Model m(ctx, GgufFile::from_memory(bytes, "synthetic.gguf"), {.n_ctx = 64, .n_batch = 16, .progress = false});
  auto tokens = random_tokens(20, m.config().n_vocab);
  auto all = m.forward(tokens, 0, LogitsMode::all);
  const uint32_t V = m.config().n_vocab;
  m.forward(std::span<const int32_t>(tokens).first(11), 0);  // prefill 11
  for (uint32_t p = 11; p < 20; ++p) {
    auto step = m.forward(std::span<const int32_t>(tokens).subspan(p, 1), p);
    // The batch ran tiled/batched kernels, the steps run matrix-vector ones: the same sums in
    // another order, so f32 rounding (not the cache) separates them.
    CHECK(rel_l2(step, std::span<const float>(all).subspan(static_cast<size_t>(p) * V, V)) < 5e-4);
  }
  // Routing is inspectable after the pass.
  auto r = m.routing();
  REQUIRE(r.ids.size() == static_cast<size_t>(r.layers) * r.k);
  for (uint32_t id : r.ids) CHECK(id < r.experts);
}

TEST_CASE_FIXTURE(GpuTest, "32 greedy tokens match the reference where top logits are not near-ties") {
  for (Arch arch : {Arch::qwen3moe, Arch::qwen2moe, Arch::mixtral, Arch::olmoe}) {
    std::string arch_s = arch_name(arch);
    CAPTURE(arch_s);
    SyntheticSpec spec{.arch = arch, .seed = rng()()};
    auto bytes = make_synthetic_model(spec).to_bytes();
    auto file = GgufFile::from_memory(bytes, "synthetic.gguf");
    auto cfg = load_model_config(file);
    auto prompt = random_tokens(5, cfg.n_vocab);
    auto ref = reference_greedy(file, cfg, prompt, 32);
    std::vector<int32_t> full(prompt);
    full.insert(full.end(), ref.begin(), ref.end());
    full.pop_back();
    // Greedy token i comes from row prompt + i - 1; it is comparable while no earlier row had a
    // routing near-tie and its own top two logits are clear.
    std::vector<double> margins;
    auto logits = reference_forward(file, cfg, full, &margins);
    for (size_t r = 0; r < margins.size(); ++r)
      if (r + 1 >= prompt.size())
        margins[r] = std::min(margins[r], top2_gap(std::span<const double>(logits).subspan(r * cfg.n_vocab, cfg.n_vocab)));
    const size_t clear = first_near_tie(margins);
    const size_t steps = clear + 1 > prompt.size() ? std::min<size_t>(32, clear + 1 - prompt.size()) : 0;
    Model m(ctx, GgufFile::from_memory(bytes, "synthetic.gguf"), {.n_ctx = 64, .n_batch = 8, .progress = false});
    auto gpu = gpu_greedy(m, prompt, 32);
    if (steps < 32) MESSAGE("near-tie: comparing the first " << steps << " greedy tokens of 32");
    CHECK(std::vector<int32_t>(gpu.begin(), gpu.begin() + steps) == std::vector<int32_t>(ref.begin(), ref.begin() + steps));
  }
}

TEST_CASE_FIXTURE(GpuTest, "a file whose tensors disagree with its metadata is refused by name") {
  SyntheticSpec spec{.arch = Arch::qwen3moe, .seed = rng()()};
  GgufWriter w = make_synthetic_model(spec);
  w.set_uint32("qwen3moe.expert_feed_forward_length", 96);  // the expert tensors hold 64
  auto bytes = w.to_bytes();
  CHECK_THROWS_WITH(Model(ctx, GgufFile::from_memory(bytes, "lying.gguf"), {.n_ctx = 16, .n_batch = 4, .progress = false}),
                    doctest::Contains("lying.gguf: tensor 'blk.0.ffn_gate_exps.weight' has shape [64, 64, 8], the metadata implies [64, 96, 8]"));
}

TEST_CASE_FIXTURE(GpuTest, "a model that only fits with --spill runs with its last layers' experts in system memory") {
  SyntheticSpec spec{.arch = Arch::qwen3moe, .n_layer = 3, .n_ff_exp = 128, .seed = rng()()};
  auto bytes = make_synthetic_model(spec).to_bytes();
  auto file = GgufFile::from_memory(bytes, "spill.gguf");
  auto cfg = load_model_config(file);
  ModelOptions opt{.n_ctx = 32, .n_batch = 8, .progress = false};
  auto full = plan_memory(file, cfg, ctx.device().caps(), {.n_ctx = opt.n_ctx, .n_batch = opt.n_batch});
  opt.mem_budget = full.device_total() - 100 * 1024;  // one layer's experts (3 x 256 KiB) must leave
  CHECK_THROWS_WITH(Model(ctx, GgufFile::from_memory(bytes, "spill.gguf"), opt), doctest::Contains("does not fit"));
  opt.spill = true;
  Model m(ctx, GgufFile::from_memory(bytes, "spill.gguf"), opt);
  CHECK(m.plan().verdict == PlanVerdict::fits_with_spill);
  CHECK(m.plan().spilled_layers == std::vector<uint32_t>{2});
  auto tokens = random_tokens(9, cfg.n_vocab);
  CHECK(rel_l2(m.forward(tokens, 0, LogitsMode::all), reference_forward(file, cfg, tokens)) < 1e-3);
}

TEST_CASE_FIXTURE(GpuTest, "without push descriptors (descriptor-set fallback) the forward pass is unchanged") {
  SyntheticSpec spec{.arch = Arch::qwen2moe, .seed = rng()()};
  auto bytes = make_synthetic_model(spec).to_bytes();
  Model m(ctx, GgufFile::from_memory(bytes, "synthetic.gguf"), {.n_ctx = 64, .n_batch = 8, .progress = false});
  auto tokens = random_tokens(11, m.config().n_vocab);
  auto with_push = m.forward(tokens, 0, LogitsMode::all);
  const bool had = ctx.device().features().push_descriptor;
  ctx.device().mutable_features().push_descriptor = false;
  std::vector<float> without;
  try {
    without = m.forward(tokens, 0, LogitsMode::all);
  } catch (...) {
    ctx.device().mutable_features().push_descriptor = had;
    throw;
  }
  ctx.device().mutable_features().push_descriptor = had;
  // Same kernels, same order: bit-identical results.
  CHECK(without == with_push);
}
