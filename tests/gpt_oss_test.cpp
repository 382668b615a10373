// gpt-oss end to end: the hyperparameters as llama.cpp reads them, the double-precision CPU
// reference and the GPU forward on llama.cpp's own gpt-oss files against llama.cpp's logits
// (../shared/models/llamacpp/README.md: rel L2 <= 1e-3 for F32, 3e-2 for the MXFP4 file), and a
// synthetic gpt-oss model whose context outruns its sliding window, GPU against the reference.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>

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

const std::vector<int32_t> kTokens = {1, 5, 9, 77, 3, 100, 42, 8, 17, 64};  // README's tokens

}  // namespace

TEST_CASE("gpt-oss hyperparameters as llama.cpp reads them") {
  const auto path = llamacpp_file("gpt-oss-moe");
  if (path.empty()) return;
  auto file = GgufFile::open(path);
  const ModelConfig c = load_model_config(file);
  CHECK(c.arch == Arch::gpt_oss);
  CHECK(c.n_embd == 256);
  CHECK(c.n_head == 2);
  CHECK(c.head_dim_k == 128);  // key_length, not n_embd / n_head
  CHECK(c.n_ff_exp == 384);
  CHECK(c.n_expert == 2);
  CHECK(c.n_expert_used == 1);
  CHECK(c.n_swa == 16);
  REQUIRE(c.layers.size() == 2);
  CHECK(c.layers[0].window == 16);  // set_swa_pattern(2): even layers slide
  CHECK(c.layers[1].window == 0);
  CHECK(c.layers[0].sinks);
  CHECK(c.router.gating == Gating::topk_softmax);
  CHECK(c.router_bias);
  CHECK(c.expert_bias);
  CHECK(c.swiglu_oai);
  CHECK(c.ffn_norm == "post_attention_norm");
  CHECK(!c.rope_yarn);  // "linear" with factor 0: no scaling
  const std::string d = c.describe();
  CHECK(d.find("sliding window 16 on layers 0 (1 of 2") != std::string::npos);
  CHECK(d.find("attention sinks") != std::string::npos);
  CHECK(d.find("clamped SwiGLU") != std::string::npos);
}

TEST_CASE("gpt-oss reference forward matches llama.cpp's logits") {
  const auto path = llamacpp_file("gpt-oss-moe");
  if (path.empty()) return;
  auto file = GgufFile::open(path);
  const ModelConfig c = load_model_config(file);
  const auto want = llamacpp_logits(path, kTokens.size() * c.n_vocab);
  const auto ref = reference_forward(file, c, kTokens);
  const double err = rel_l2(std::vector<float>(ref.begin(), ref.end()), want);
  MESSAGE("gpt-oss reference vs llama.cpp: rel L2 " << err);
  CHECK(err < 1e-3);
}

TEST_CASE_FIXTURE(GpuTest, "gpt-oss on the GPU matches llama.cpp's logits") {
  const auto path = llamacpp_file("gpt-oss-moe");
  if (path.empty()) return;
  Model m(ctx, GgufFile::open(path), {.n_ctx = 32, .n_batch = 16, .progress = false});
  const auto want = llamacpp_logits(path, kTokens.size() * m.config().n_vocab);
  const auto got = m.forward(kTokens, 0, LogitsMode::all);
  const double err = rel_l2(got, want);
  MESSAGE("gpt-oss GPU vs llama.cpp: rel L2 " << err);
  CHECK(err < 1e-3);
}

// llama-quantize's MXFP4_MOE: MXFP4 experts, Q8_0/F32 elsewhere. llama.cpp's CPU backend
// quantizes activations to 8 bits before the quantized dot products, so the bound is the
// README's 3e-2 for quantized files; the double-precision reference runs the same weights.
TEST_CASE_FIXTURE(GpuTest, "gpt-oss with MXFP4 experts matches llama.cpp's logits (GPU and reference)") {
  const auto path = llamacpp_file("gpt-oss-moe-mxfp4");
  if (path.empty()) return;
  auto file = GgufFile::open(path);
  const ModelConfig c = load_model_config(file);
  REQUIRE(file.find_tensor("blk.0.ffn_gate_exps.weight")->type == GgmlType::MXFP4);
  const auto want = llamacpp_logits(path, kTokens.size() * c.n_vocab);
  Model m(ctx, GgufFile::open(path), {.n_ctx = 32, .n_batch = 16, .progress = false});
  const auto got = m.forward(kTokens, 0, LogitsMode::all);
  const double err = rel_l2(got, want);
  MESSAGE("gpt-oss MXFP4 GPU vs llama.cpp: rel L2 " << err);
  CHECK(err < 3e-2);
  const auto ref = reference_forward(file, c, kTokens);
  const double ref_err = rel_l2(std::vector<float>(ref.begin(), ref.end()), want);
  MESSAGE("gpt-oss MXFP4 reference vs llama.cpp: rel L2 " << ref_err);
  CHECK(ref_err < 3e-2);
}

namespace {

// A gpt-oss whose 23-token context outruns its window of 5 (layers 0 and 2 slide), with YaRN,
// every bias and gate/up values past the clamp.
SyntheticSpec synthetic_gpt_oss(GgmlType type = GgmlType::F32) {
  const uint32_t F = type == GgmlType::Q8_0 ? 64 : 40;  // Q8_0 rows are whole 32-blocks
  return {.arch = Arch::gpt_oss, .n_layer = 3, .n_head = 4, .n_head_kv = 2, .head_dim = 16, .n_expert = 6,
          .n_expert_used = 2, .n_ff_exp = F, .matrix_type = type, .yarn_factor = 4.0f, .sliding_window = 5,
          .seed = rng()()};
}

// GPU logits of `tokens` (in batches of 8) against the reference up to the first routing near-tie.
double synthetic_error(Context& ctx, const std::vector<uint8_t>& bytes, std::span<const int32_t> tokens,
                       std::vector<float>* gpu_out = nullptr) {
  return synthetic_tokens_error(ctx, bytes, tokens, {.n_ctx = 32, .n_batch = 8, .progress = false}, gpu_out);
}

}  // namespace

TEST_CASE_FIXTURE(GpuTest, "synthetic gpt-oss: GPU matches the reference past the sliding window, prefill and decode") {
  const auto bytes = make_synthetic_model(synthetic_gpt_oss()).to_bytes();
  auto file = GgufFile::from_memory(bytes, "gpt-oss-synthetic.gguf");
  const auto cfg = load_model_config(file);
  REQUIRE(cfg.layers[0].window == 5);
  REQUIRE(cfg.rope_yarn);
  const auto tokens = random_tokens(23, cfg.n_vocab);
  std::vector<float> gpu;
  CHECK(synthetic_error(ctx, bytes, tokens, &gpu) < 1e-3);  // batches of 8, 8, 7
  // Decode one token at a time past the window: the same logits as the batched pass.
  const size_t V = cfg.n_vocab;
  Model m(ctx, GgufFile::from_memory(bytes, "gpt-oss-synthetic.gguf"), {.n_ctx = 32, .n_batch = 8, .progress = false});
  m.forward(std::span<const int32_t>(tokens).first(6), 0);
  for (uint32_t p = 6; p < 23; ++p) {
    const auto step = m.forward(std::span<const int32_t>(tokens).subspan(p, 1), p);
    CHECK(rel_l2(step, std::span<const float>(gpu).subspan(size_t(p) * V, V)) < 5e-4);
  }
}

TEST_CASE_FIXTURE(GpuTest, "synthetic gpt-oss in F16 and Q8_0 matches the reference") {
  for (auto [type, bound] : {std::pair{GgmlType::F16, 1e-2}, std::pair{GgmlType::Q8_0, 1e-3}}) {
    CAPTURE(ggml_type_name(type));
    const auto bytes = make_synthetic_model(synthetic_gpt_oss(type)).to_bytes();
    CHECK(synthetic_error(ctx, bytes, random_tokens(17, SyntheticSpec{}.n_vocab)) < bound);
  }
}

TEST_CASE_FIXTURE(GpuTest, "synthetic gpt-oss: 32 greedy tokens match the reference up to the first near-tie") {
  check_synthetic_greedy(ctx, make_synthetic_model(synthetic_gpt_oss()).to_bytes());
}
