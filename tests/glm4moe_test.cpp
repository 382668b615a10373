// GLM-4.5 (glm4moe) and DeepSeek-MoE v1 (deepseek): what the files mean, the double-precision CPU
// reference against llama.cpp's own logits, and the GPU against that reference on small synthetic
// models (partial NeoX RoPE, q/k/v biases, per-head QK-norm, post_attention_norm as the FFN norm,
// a dense first layer, sigmoid routing with selection bias, renormalised and scaled, a shared
// expert, and a NextN block that is loaded but never run); and qwen3moe with llama.cpp's optional
// per-tensor .scale / .input_scale tensors and attention biases.
#include <doctest/doctest.h>

#include <cstring>
#include <fstream>

#include "runtime/model/model.h"
#include "runtime/model/model_stats.h"
#include "runtime/model/synthetic_model.h"
#include "runtime/reference/forward_ref.h"
#include "runtime/sampling/sampler.h"
#include "tests/gpu_fixture.h"
#include "tests/model_test_util.h"
#include "tests/test_util.h"

using namespace vkmoe;
using namespace vkmoe::test;

namespace {

SyntheticSpec glm_spec(GgmlType type) {
  return {.arch = Arch::glm4moe, .name = "glm4moe-synthetic", .n_layer = 3, .head_dim = 16, .matrix_type = type,
          .n_expert_shared = 1, .routed_scale = 2.5f, .n_nextn = 1, .seed = rng()()};
}

SyntheticSpec deepseek_spec(GgmlType type) {
  return {.arch = Arch::deepseek, .name = "deepseek-synthetic", .n_layer = 3, .matrix_type = type, .seed = rng()()};
}

ModelOptions small(uint32_t n_batch) { return {.n_ctx = 64, .n_batch = n_batch, .progress = false}; }

const std::vector<int32_t> kLlamaCppTokens = {1, 5, 9, 77, 3, 100, 42, 8, 17, 64};  // README in that folder

// The llama.cpp-written file and its logits, or nothing when ../shared is absent.
bool load_llamacpp(const std::string& name, std::filesystem::path& gguf, std::vector<float>& want, uint32_t vocab) {
  const auto dir = shared_dir();
  gguf = dir / "models" / "llamacpp" / (name + ".gguf");
  if (dir.empty() || !std::filesystem::exists(gguf)) return false;
  want.resize(kLlamaCppTokens.size() * vocab);
  std::ifstream lf(dir / "models" / "llamacpp" / (name + ".logits.f32"), std::ios::binary);
  lf.read(reinterpret_cast<char*>(want.data()), static_cast<std::streamsize>(want.size() * 4));
  REQUIRE(lf.gcount() == static_cast<std::streamsize>(want.size() * 4));
  return true;
}

// The reference forward (gpu == nullptr) or the GPU forward of a llama.cpp-written file against
// llama.cpp's logits; skipped when ../shared is absent.
void check_llamacpp_file(const std::string& name, Context* gpu) {
  std::filesystem::path path;
  std::vector<float> want;
  if (!load_llamacpp(name, path, want, 128)) {
    MESSAGE("../shared/models/llamacpp not present: skipped");
    return;
  }
  std::vector<float> got;
  if (gpu) {
    Model m(*gpu, GgufFile::open(path), small(16));
    got = m.forward(kLlamaCppTokens, 0, LogitsMode::all);
  } else {
    auto file = GgufFile::open(path);
    const auto ref = reference_forward(file, load_model_config(file), kLlamaCppTokens);
    got.assign(ref.begin(), ref.end());
  }
  const double err = rel_l2(got, want);
  const std::string by = gpu ? "GPU" : "reference";
  MESSAGE(name << ".gguf: rel L2 of the " << by << " vs llama.cpp " << err);
  CHECK(err < 1e-3);
}

// GPU logits of every position against the reference, up to the first routing near-tie.
void check_gpu_vs_reference(GpuTest& t, const std::vector<uint8_t>& bytes, double bound, const std::string& what) {
  auto file = GgufFile::from_memory(bytes, "synthetic.gguf");
  auto cfg = load_model_config(file);
  auto tokens = random_tokens(13, cfg.n_vocab);
  std::vector<double> margins;
  auto ref = reference_forward(file, cfg, tokens, &margins);
  Model m(t.ctx, GgufFile::from_memory(bytes, "synthetic.gguf"), small(8));
  auto gpu = m.forward(tokens, 0, LogitsMode::all);  // batches of 8 and 5
  const size_t rows = first_near_tie(margins), V = cfg.n_vocab;
  if (rows < tokens.size()) MESSAGE("routing near-tie at token " << rows << ": later rows not compared");
  if (rows == 0) return;
  const double err = rel_l2(std::span<const float>(gpu).first(rows * V), std::span<const double>(ref).first(rows * V));
  MESSAGE(what << ": relative L2 " << err << " over " << rows << " rows");
  CHECK(err < bound);
}

// 32 greedy tokens on the GPU equal the reference's, up to the first routing or greedy near-tie.
void check_greedy(GpuTest& t, const std::vector<uint8_t>& bytes) { check_greedy_vs_reference(t.ctx, bytes, small(8)); }

}  // namespace

TEST_CASE("glm4moe: the synthetic file parses as llama.cpp reads it") {
  auto bytes = make_synthetic_model(glm_spec(GgmlType::F32)).to_bytes();
  auto cfg = load_model_config(GgufFile::from_memory(bytes, "glm.gguf"));
  CHECK(cfg.arch == Arch::glm4moe);
  CHECK(cfg.n_layer == 3);  // block_count 4 less the NextN block
  CHECK(cfg.n_layer_nextn == 1);
  CHECK(cfg.skipped_tensor("blk.3.nextn.eh_proj.weight"));
  CHECK_FALSE(cfg.skipped_tensor("blk.2.attn_q.weight"));
  CHECK(cfg.n_rot == 8);  // partial: half of the 16-wide heads
  CHECK(cfg.rope_layout == RopeLayout::neox);
  CHECK(cfg.qkv_bias);
  CHECK(cfg.qk_norm_per_head);
  CHECK(cfg.ffn_norm == "post_attention_norm");
  CHECK(cfg.router.gating == Gating::sigmoid_group);
  CHECK(cfg.router.renormalize);
  CHECK(cfg.router.scale == 2.5f);
  CHECK(cfg.n_ff_shexp == cfg.n_ff_exp);  // expert_shared_feed_forward_length = 0 is not read
  REQUIRE(cfg.layers.size() == 3);
  CHECK(cfg.layers[0].ffn == FfnKind::dense);
  CHECK(cfg.layers[1].ffn == FfnKind::moe);
  CHECK(cfg.layers[1].shared_experts);
  // The NextN block counts in the file's size, not in what a token reads.
  SyntheticSpec no_nextn = glm_spec(GgmlType::F32);
  no_nextn.n_nextn = 0;
  auto plain = make_synthetic_model(no_nextn).to_bytes();
  auto plain_file = GgufFile::from_memory(plain, "plain.gguf");
  const ModelStats with = model_stats(GgufFile::from_memory(bytes, "glm.gguf"), cfg);
  const ModelStats without = model_stats(plain_file, load_model_config(plain_file));
  CHECK(with.params > without.params);
  CHECK(with.active_bytes == without.active_bytes);
  CHECK(with.expert_bytes == without.expert_bytes);
  // What `vkmoe inspect` says of it.
  const std::string text = cfg.describe();
  CHECK(text.find("partial: 8 of 16") != std::string::npos);
  CHECK(text.find("sigmoid, top-k by score + selection bias") != std::string::npos);
  CHECK(text.find("1 shared expert(s)") != std::string::npos);
  CHECK(text.find("1 leading dense layer(s)") != std::string::npos);
  CHECK(text.find("1 NextN layer(s) in the file, not run") != std::string::npos);
}

TEST_CASE("glm4moe: the reference forward of llama.cpp's file matches llama.cpp's logits") {
  check_llamacpp_file("glm4moe-moe", nullptr);
}

TEST_CASE_FIXTURE(GpuTest, "glm4moe: the GPU forward of llama.cpp's file matches llama.cpp's logits") {
  check_llamacpp_file("glm4moe-moe", &ctx);
}

TEST_CASE_FIXTURE(GpuTest, "glm4moe: GPU logits match the CPU reference, F32 and F16") {
  for (auto [type, bound] : {std::pair{GgmlType::F32, 1e-3}, std::pair{GgmlType::F16, 1e-2}}) {
    std::string type_s(ggml_type_name(type));
    CAPTURE(type_s);
    check_gpu_vs_reference(*this, make_synthetic_model(glm_spec(type)).to_bytes(), bound, "glm4moe " + type_s);
  }
}

TEST_CASE_FIXTURE(GpuTest, "glm4moe: 32 greedy tokens match the reference where nothing is a near-tie") {
  check_greedy(*this, make_synthetic_model(glm_spec(GgmlType::F32)).to_bytes());
}

TEST_CASE("deepseek: the synthetic file parses as llama.cpp reads it") {
  auto bytes = make_synthetic_model(deepseek_spec(GgmlType::F32)).to_bytes();
  auto cfg = load_model_config(GgufFile::from_memory(bytes, "deepseek.gguf"));
  CHECK(cfg.arch == Arch::deepseek);
  CHECK(cfg.rope_layout == RopeLayout::normal);
  CHECK(cfg.kv_lora_rank == 0);
  CHECK(cfg.n_head_kv == 2);
  CHECK(cfg.router.gating == Gating::softmax_topk);
  CHECK_FALSE(cfg.router.renormalize);
  CHECK(cfg.n_ff_shexp == cfg.n_ff_exp * 2);
  REQUIRE(cfg.layers.size() == 3);
  CHECK(cfg.layers[0].ffn == FfnKind::dense);
  CHECK(cfg.layers[0].attention == AttentionKind::gqa);
  CHECK(cfg.layers[2].shared_experts);
}

TEST_CASE_FIXTURE(GpuTest, "deepseek: GPU logits match the CPU reference, F32 and F16, and greedy tokens") {
  for (auto [type, bound] : {std::pair{GgmlType::F32, 1e-3}, std::pair{GgmlType::F16, 1e-2}}) {
    std::string type_s(ggml_type_name(type));
    CAPTURE(type_s);
    check_gpu_vs_reference(*this, make_synthetic_model(deepseek_spec(type)).to_bytes(), bound, "deepseek " + type_s);
  }
  check_greedy(*this, make_synthetic_model(deepseek_spec(GgmlType::F32)).to_bytes());
}

TEST_CASE("qwen3moe with per-tensor scales: the reference forward matches llama.cpp's logits") {
  check_llamacpp_file("qwen3moe-moe-scaled", nullptr);
}

TEST_CASE_FIXTURE(GpuTest, "qwen3moe with per-tensor scales: the GPU forward matches llama.cpp's logits") {
  check_llamacpp_file("qwen3moe-moe-scaled", &ctx);  // the scales folded into the F32 weights at load
}

TEST_CASE_FIXTURE(GpuTest, "a .scale on a quantized weight is refused, naming the tensor") {
  GgufWriter w = make_synthetic_model({.arch = Arch::qwen3moe, .matrix_type = GgmlType::Q8_0, .seed = rng()()});
  const float half = 0.5f;
  std::vector<uint8_t> bytes(4);
  std::memcpy(bytes.data(), &half, 4);
  w.add_tensor("blk.0.attn_output.scale", GgmlType::F32, {1}, bytes);
  auto file = w.to_bytes();
  CHECK_THROWS_WITH(Model(ctx, GgufFile::from_memory(file, "q8.gguf"), small(8)),
                    doctest::Contains("'blk.0.attn_output.scale' scales a q8_0 weight"));
}
