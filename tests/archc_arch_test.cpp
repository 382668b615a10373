// Architectures of issue 10, part c: llama4 (and bailingmoe2). Each: the hyperparameters and
// layer list as llama.cpp reads them, and tiny synthetic models whose GPU logits and 32 greedy
// tokens match the double-precision reference (F32 within 1e-3, F16 within 1e-2) up to the
// first routing or greedy near-tie.
#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <stdexcept>

#include "runtime/gguf/gguf_reader.h"
#include "runtime/model/model.h"
#include "runtime/model/model_config.h"
#include "runtime/model/synthetic_model.h"
#include "runtime/reference/forward_ref.h"
#include "tests/gpu_fixture.h"
#include "tests/model_test_util.h"
#include "tests/test_util.h"

using namespace vkmoe;
using namespace vkmoe::test;

namespace {

using Adjust = std::function<void(ModelConfig&)>;

// GPU logits of `tokens` (prefill in batches of 8) against the reference on the same (adjusted)
// config, up to the first routing near-tie; the GPU logits go to gpu_out.
double arch_error(Context& ctx, const std::vector<uint8_t>& bytes, std::span<const int32_t> tokens, const Adjust& adjust,
                  std::vector<float>* gpu_out = nullptr) {
  return synthetic_tokens_error(ctx, bytes, tokens, {.n_ctx = 48, .n_batch = 8, .progress = false, .adjust_config = adjust},
                                gpu_out);
}

// ---- llama4 ----

// 4 layers (layer 3 has no RoPE), MoE on layers 1 and 3 with one shared expert, top-1.
SyntheticSpec synthetic_llama4(GgmlType type = GgmlType::F32) {
  return {.arch = Arch::llama4, .n_layer = 4, .n_head = 4, .n_head_kv = 2, .head_dim = 16, .n_expert = 6,
          .n_expert_used = 1, .n_ff_exp = 64, .matrix_type = type, .n_ff = 96, .moe_layer_step = 2, .seed = rng()()};
}

// llama.cpp fixes the chunk (8192) and the temperature's floor (8192): shrunk to 5 and 3 so that
// 23 tokens cross chunks and temperature steps.
void small_llama4_chunks(ModelConfig& c) {
  c.n_swa = 5;
  c.attn_temp_floor = 3;
  for (LayerSpec& s : c.layers)
    if (s.chunked) s.window = 5;
}

}  // namespace

TEST_CASE("llama4 hyperparameters and layers as llama.cpp reads them") {
  const auto bytes = make_synthetic_model(synthetic_llama4()).to_bytes();
  auto file = GgufFile::from_memory(bytes, "llama4.gguf");
  const ModelConfig c = load_model_config(file);
  CHECK(c.arch == Arch::llama4);
  CHECK(c.rope_layout == RopeLayout::normal);
  CHECK(c.n_ff_exp == 64);
  CHECK(c.n_ff == 96);
  CHECK(c.n_ff_shexp == 64);
  CHECK(c.n_swa == 8192);
  CHECK(c.attn_temp_floor == 8192);
  CHECK(c.attn_temp_scale == 0.1f);
  CHECK(c.moe_weight_input);
  CHECK(c.rope_freqs);
  CHECK(c.router.gating == Gating::sigmoid_group);
  CHECK(!c.router.renormalize);
  REQUIRE(c.layers.size() == 4);
  for (uint32_t l = 0; l < 4; ++l) {
    CAPTURE(l);
    const LayerSpec& s = c.layers[l];
    CHECK((s.ffn == FfnKind::moe) == (l % 2 == 1));  // interleave_moe_layer_step 2
    CHECK(s.shared_experts == (l % 2 == 1));
    CHECK(s.chunked == (l < 3));  // sliding_window_pattern 4: 3 chunked, 1 full
    CHECK(s.window == (l < 3 ? 8192u : 0u));
    CHECK(s.rope == (l != 3));  // n_no_rope_layer_step 4
    CHECK(s.attn_temp == (l == 3));
    CHECK(s.qk_l2_norm == (l != 3));  // not 128 experts
  }
  const std::string d = c.describe();
  CHECK(d.find("attention in chunks of 8192 on layers 0,1,2") != std::string::npos);
  CHECK(d.find("no RoPE on layers 3 (attention temperature)") != std::string::npos);
  CHECK(d.find("L2 QK-norm") != std::string::npos);
  CHECK(d.find("weight applied to the expert's input") != std::string::npos);
  CHECK(d.find("MoE on every 2 layer(s), dense FFN of width 96") != std::string::npos);
}

TEST_CASE("llama4 at the edges of llama.cpp's rules") {
  auto config = [](GgufWriter w) {
    const auto bytes = w.to_bytes();
    return load_model_config(GgufFile::from_memory(bytes, "llama4-edge.gguf"));
  };
  SyntheticSpec maverick = synthetic_llama4();
  maverick.n_expert = 128;  // LLM_TYPE_17B_128E: no QK-norm
  maverick.n_ff_exp = 8;
  CHECK(!config(make_synthetic_model(maverick)).layers[0].qk_l2_norm);
  GgufWriter pattern = make_synthetic_model(synthetic_llama4());
  pattern.set_uint32("llama4.attention.sliding_window_pattern", 2);  // chunked layers 0 and 2; NoPE stays at 3
  const ModelConfig p = config(std::move(pattern));
  CHECK(p.layers[0].chunked);
  CHECK(!p.layers[1].chunked);
  CHECK(p.layers[2].chunked);
  CHECK(!p.layers[3].rope);
  GgufWriter unchunked = make_synthetic_model(synthetic_llama4());
  unchunked.set_uint32("llama4.attention.sliding_window", 0);  // llama.cpp then runs without a temperature
  CHECK_THROWS_WITH(config(std::move(unchunked)), doctest::Contains("llama4-edge.gguf: attention.sliding_window 0"));
}

TEST_CASE_FIXTURE(GpuTest, "synthetic llama4: GPU matches the reference across chunks, prefill and decode") {
  const auto bytes = make_synthetic_model(synthetic_llama4()).to_bytes();
  auto file = GgufFile::from_memory(bytes, "llama4.gguf");
  auto cfg = load_model_config(file);
  const auto tokens = random_tokens(23, cfg.n_vocab);
  // The shrunken chunks and temperature change the reference's logits: the test sees them.
  {
    auto small = cfg;
    small_llama4_chunks(small);
    const auto a = reference_forward(file, cfg, tokens), b = reference_forward(file, small, tokens);
    CHECK(rel_l2(std::vector<float>(b.begin(), b.end()), std::vector<float>(a.begin(), a.end())) > 1e-2);
  }
  std::vector<float> gpu;
  CHECK(arch_error(ctx, bytes, tokens, small_llama4_chunks, &gpu) < 1e-3);  // batches of 8, 8, 7
  // One token at a time across the chunk borders: the batched pass's logits.
  const size_t V = cfg.n_vocab;
  Model m(ctx, GgufFile::from_memory(bytes, "llama4.gguf"),
          {.n_ctx = 32, .n_batch = 8, .progress = false, .adjust_config = small_llama4_chunks});
  m.forward(std::span<const int32_t>(tokens).first(6), 0);
  for (uint32_t p = 6; p < 23; ++p) {
    const auto step = m.forward(std::span<const int32_t>(tokens).subspan(p, 1), p);
    CHECK(rel_l2(step, std::span<const float>(gpu).subspan(size_t(p) * V, V)) < 5e-4);
  }
}

TEST_CASE_FIXTURE(GpuTest, "synthetic llama4 in F16 matches the reference") {
  const auto bytes = make_synthetic_model(synthetic_llama4(GgmlType::F16)).to_bytes();
  CHECK(arch_error(ctx, bytes, random_tokens(17, SyntheticSpec{}.n_vocab), small_llama4_chunks) < 1e-2);
}

TEST_CASE_FIXTURE(GpuTest, "synthetic llama4: 32 greedy tokens match the reference up to the first near-tie") {
  check_synthetic_greedy(ctx, make_synthetic_model(synthetic_llama4()).to_bytes(),
                         {.n_ctx = 48, .n_batch = 8, .progress = false, .adjust_config = small_llama4_chunks});
}

// ---- bailingmoe2 ----

namespace {

// A dense lead layer, then 2 MoE layers (8 experts in 4 groups, 2 groups kept, k = 2, a shared
// expert), a NextN block after them, fused attn_qkv, partial RoPE.
SyntheticSpec synthetic_bailingmoe2(GgmlType type = GgmlType::F32) {
  return {.arch = Arch::bailingmoe2, .n_layer = 3, .n_head = 4, .n_head_kv = 2, .head_dim = 16, .n_expert = 8,
          .n_expert_used = 2, .n_ff_exp = 32, .matrix_type = type, .n_layer_dense_lead = 1, .n_ff = 96,
          .n_expert_shared = 1, .n_group = 4, .topk_group = 2, .routed_scale = 2.5f, .n_nextn = 1, .seed = rng()()};
}

}  // namespace

TEST_CASE("bailingmoe2 hyperparameters and layers as llama.cpp reads them") {
  const auto bytes = make_synthetic_model(synthetic_bailingmoe2()).to_bytes();
  auto file = GgufFile::from_memory(bytes, "bailingmoe2.gguf");
  const ModelConfig c = load_model_config(file);
  CHECK(c.arch == Arch::bailingmoe2);
  CHECK(c.rope_layout == RopeLayout::neox);
  CHECK(c.n_layer == 3);  // block_count 4 less the NextN block
  CHECK(c.n_layer_nextn == 1);
  CHECK(c.n_rot == 8);    // partial: half the head
  CHECK(c.qk_norm_per_head);
  CHECK(c.n_ff_shexp == 32);  // expert_shared_feed_forward_length 0: the routed width x 1
  CHECK(c.router.gating == Gating::sigmoid_group);
  CHECK(c.router.renormalize);
  CHECK(c.router.n_group == 4);
  CHECK(c.router.topk_group == 2);
  CHECK(c.router.scale == 2.5f);
  REQUIRE(c.layers.size() == 3);
  CHECK(c.layers[0].ffn == FfnKind::dense);
  CHECK(c.layers[1].ffn == FfnKind::moe);
  CHECK(c.layers[2].shared_experts);
  CHECK(c.skipped_tensor("blk.3.layer_out_norm.weight"));
}

TEST_CASE("bailingmoe2: a softmax gate with a selection bias is refused, naming the file") {
  GgufWriter w = make_synthetic_model(synthetic_bailingmoe2());
  w.set_uint32("bailingmoe2.expert_gating_func", 1);
  const auto bytes = w.to_bytes();
  CHECK_THROWS_WITH(load_model_config(GgufFile::from_memory(bytes, "ling-edge.gguf")),
                    doctest::Contains("ling-edge.gguf: expert_gating_func 1 with a selection bias"));
}

TEST_CASE_FIXTURE(GpuTest, "synthetic bailingmoe2 in F32 and F16 matches the reference") {
  for (auto [type, bound] : {std::pair{GgmlType::F32, 1e-3}, std::pair{GgmlType::F16, 1e-2}}) {
    CAPTURE(ggml_type_name(type));
    const auto bytes = make_synthetic_model(synthetic_bailingmoe2(type)).to_bytes();
    CHECK(arch_error(ctx, bytes, random_tokens(17, SyntheticSpec{}.n_vocab), nullptr) < bound);
  }
}

TEST_CASE_FIXTURE(GpuTest, "synthetic bailingmoe2: 32 greedy tokens match the reference up to the first near-tie") {
  check_synthetic_greedy(ctx, make_synthetic_model(synthetic_bailingmoe2()).to_bytes());
}

// ---- window-sized KV caches of the sliding-window layers ----

TEST_CASE_FIXTURE(GpuTest, "sliding-window layers keep a ring of window + batch - 1 rows: planned, allocated, resumed") {
  // gpt-oss: layers 0 and 2 slide over 5 positions; n_batch 8: rings of 12 rows, layer 1 keeps 32.
  const auto bytes = make_synthetic_model({.arch = Arch::gpt_oss, .n_layer = 3, .n_head = 4, .n_head_kv = 2,
                                           .head_dim = 16, .n_expert = 6, .n_expert_used = 2, .n_ff_exp = 40,
                                           .sliding_window = 5, .seed = rng()()})
                         .to_bytes();
  Model m(ctx, GgufFile::from_memory(bytes, "gpt-oss-ring.gguf"), {.n_ctx = 32, .n_batch = 8, .progress = false});
  const ActivationLayout& lay = m.plan().layout;
  CHECK(lay.kv_ring == 12);
  CHECK(lay.ring(0));
  CHECK(!lay.ring(1));
  CHECK(lay.ring(2));
  const uint64_t row = kv_cache_bytes(1, 2, 16);  // one position of K (or V): 2 heads of 16 halves
  CHECK(m.plan().planned(MemoryCategory::kv_cache) == 2 * row * (12 + 32 + 12));
  const uint64_t got = m.allocated_bytes(MemoryCategory::kv_cache), want = 2 * row * (12 + 32 + 12);
  CHECK(got >= want);
  CHECK(got - want <= want / 100);
  // 23 tokens (the rings wrap), then a rewind the rings still serve and one they cannot.
  const auto tokens = random_tokens(23, m.config().n_vocab);
  const auto all = m.forward(tokens, 0, LogitsMode::all);
  Session& s = m.default_session();
  CHECK(s.resumable(20) == 20);  // keys 16.. still held (23 - 12 = 11 on)
  CHECK(s.resumable(12) == 0);   // keys 8.. overwritten
  CHECK_THROWS_AS(s.set_position(12), std::runtime_error);
  const auto again = m.forward(std::span<const int32_t>(tokens).subspan(20), 20, LogitsMode::all);
  const size_t V = m.config().n_vocab;
  CHECK(rel_l2(again, std::span<const float>(all).subspan(20 * V)) < 5e-4);
  const auto fresh = m.forward(std::span<const int32_t>(tokens).first(3), 0, LogitsMode::all);  // 0 always resumes
  CHECK(rel_l2(fresh, std::span<const float>(all).first(3 * V)) < 5e-4);
}
