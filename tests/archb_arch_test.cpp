// The architectures that need norms beyond a plain RMSNorm (issue 10, part b): phimoe
// (Phi-3.5-MoE: RMS norms with bias, q/k/v/o and output biases, softmax top-2 renormalised) and
// dbrx (LayerNorm without bias, one attn_qkv clamped at clamp_kqv, softmax top-k renormalised),
// arctic (a dense FFN in the residual beside the MoE, which reads the layer's input) and grok
// (Grok-1: multipliers, attention and final softcaps, post-attention/FFN norms, GELU experts;
// Grok-2: a dense GELU FFN beside the MoE, YaRN with its own ext_factor and betas).
// Each: what its synthetic file means as llama.cpp reads it, the GPU forward against the
// double-precision CPU reference (F32 1e-3, F16 1e-2, up to the first routing near-tie), and 32
// greedy tokens equal to the reference's.
#include <doctest/doctest.h>

#include "runtime/model/model.h"
#include "runtime/model/rope_scaling.h"
#include "runtime/model/synthetic_model.h"
#include "runtime/reference/forward_ref.h"
#include "tests/gpu_fixture.h"
#include "tests/model_test_util.h"
#include "tests/test_util.h"

using namespace vkmoe;
using namespace vkmoe::test;

namespace {

ModelOptions small() { return {.n_ctx = 64, .n_batch = 8, .progress = false}; }

// GPU logits of 13 random tokens (batches of 8 and 5) against the reference, F32 and F16.
void check_logits(Context& ctx, SyntheticSpec spec, const std::string& what) {
  for (auto [type, bound] : {std::pair{GgmlType::F32, 1e-3}, std::pair{GgmlType::F16, 1e-2}}) {
    spec.matrix_type = type;
    spec.seed = rng()();
    const std::string type_s(ggml_type_name(type));
    CAPTURE(type_s);
    const double err = synthetic_gpu_error(ctx, make_synthetic_model(spec).to_bytes(), 64);
    MESSAGE(what << " " << type_s << ": relative L2 " << err);
    CHECK(err < bound);
  }
}

SyntheticSpec phimoe_spec() {
  return {.arch = Arch::phimoe, .name = "phimoe-synthetic", .n_embd = 64, .n_layer = 2, .n_head = 4, .n_head_kv = 2,
          .head_dim = 16, .n_expert = 6, .n_expert_used = 2, .n_ff_exp = 48, .n_vocab = 300, .seed = rng()()};
}

// With LongRoPE factors: original context 16, so a context of 16 takes the short ones, 64 the long.
SyntheticSpec phimoe_longrope_spec() {
  SyntheticSpec s = phimoe_spec();
  s.longrope = true;
  return s;
}

SyntheticSpec dbrx_spec() {
  return {.arch = Arch::dbrx, .name = "dbrx-synthetic", .n_embd = 64, .n_layer = 2, .n_head = 4, .n_head_kv = 2,
          .head_dim = 16, .n_expert = 8, .n_expert_used = 4, .n_ff_exp = 40, .n_vocab = 300, .seed = rng()()};
}

SyntheticSpec grok_spec() {
  return {.arch = Arch::grok, .name = "grok-synthetic", .n_embd = 64, .n_layer = 2, .n_head = 4, .n_head_kv = 2,
          .head_dim = 16, .n_expert = 8, .n_expert_used = 2, .n_ff_exp = 40, .n_vocab = 300, .seed = rng()()};
}

// Grok-2: the dense GELU FFN beside the MoE and YaRN (base 100, so that the low frequencies turn
// within the test's positions).
SyntheticSpec grok2_spec() {
  SyntheticSpec s = grok_spec();
  s.name = "grok2-synthetic";
  s.grok2 = true;
  s.rope_freq_base = 100.0f;
  return s;
}

SyntheticSpec arctic_spec() {
  return {.arch = Arch::arctic, .name = "arctic-synthetic", .n_embd = 64, .n_layer = 2, .n_head = 4, .n_head_kv = 2,
          .head_dim = 16, .n_expert = 8, .n_expert_used = 2, .n_ff_exp = 40, .n_vocab = 300, .seed = rng()()};
}

}  // namespace

TEST_CASE("phimoe: the synthetic file parses as llama.cpp reads it") {
  auto bytes = make_synthetic_model(phimoe_spec()).to_bytes();
  auto cfg = load_model_config(GgufFile::from_memory(bytes, "phimoe.gguf"));
  CHECK(cfg.arch == Arch::phimoe);
  CHECK(cfg.rope_layout == RopeLayout::neox);
  CHECK(cfg.norm_bias);
  CHECK_FALSE(cfg.layer_norm);
  CHECK(cfg.output_bias);
  CHECK(cfg.attn_out_bias);
  CHECK(cfg.qkv_bias);
  CHECK(cfg.n_ff_exp == 48);
  CHECK(cfg.router.gating == Gating::softmax_topk);
  CHECK(cfg.router.renormalize);
  CHECK(cfg.router.scale == 1.0f);
  CHECK(cfg.describe().find("RMSNorm with bias norms") != std::string::npos);
}

TEST_CASE("phimoe: LongRoPE factors, the long ones for a context above the original length") {
  auto bytes = make_synthetic_model(phimoe_longrope_spec()).to_bytes();
  auto cfg = load_model_config(GgufFile::from_memory(bytes, "phimoe.gguf"));
  CHECK(cfg.rope_factors_long);
  CHECK(cfg.rope_factors_short);
  CHECK(cfg.rope_yarn_orig_ctx == 16);
  CHECK(cfg.rope_attn_factor == doctest::Approx(1.2));
  CHECK(rope_factors_tensor(cfg, 16) == "rope_factors_short.weight");
  CHECK(rope_factors_tensor(cfg, 17) == "rope_factors_long.weight");
  CHECK(cfg.describe().find("LongRoPE factors (long for a context above 16") != std::string::npos);
  // Without the key, the original length is context_length, as llama.cpp's n_ctx_orig_yarn.
  auto plain = load_model_config(GgufFile::from_memory(make_synthetic_model(phimoe_spec()).to_bytes(), "phimoe.gguf"));
  CHECK(plain.rope_yarn_orig_ctx == plain.n_ctx_train);
  CHECK(rope_factors_tensor(plain, 1u << 20).empty());
}

TEST_CASE("phimoe: the reference's long and short factors give different logits") {
  auto bytes = make_synthetic_model(phimoe_longrope_spec()).to_bytes();
  auto file = GgufFile::from_memory(bytes, "phimoe.gguf");
  auto cfg = load_model_config(file);
  const std::vector<int32_t> tokens = {3, 70, 41, 9, 200, 17, 5, 99};
  const auto short_ = reference_forward(file, cfg, tokens, nullptr, 16);
  const auto long_ = reference_forward(file, cfg, tokens, nullptr, 64);
  const double diff = rel_l2(std::vector<float>(short_.begin(), short_.end()), long_);
  MESSAGE("phimoe LongRoPE: rel L2 long vs short " << diff);
  CHECK(diff > 1e-2);
}

TEST_CASE_FIXTURE(GpuTest, "phimoe: LongRoPE, GPU logits match the reference with short and with long factors (F32)") {
  for (uint32_t n_ctx : {16u, 64u}) {
    CAPTURE(n_ctx);
    auto spec = phimoe_longrope_spec();
    spec.seed = rng()();
    const double err = synthetic_gpu_error(ctx, make_synthetic_model(spec).to_bytes(), n_ctx);
    MESSAGE("phimoe LongRoPE n_ctx " << n_ctx << ": relative L2 " << err);
    CHECK(err < 1e-3);
  }
  check_synthetic_greedy(ctx, make_synthetic_model(phimoe_longrope_spec()).to_bytes(), small());
}

TEST_CASE_FIXTURE(GpuTest, "phimoe: GPU logits match the CPU reference, F32 and F16, and 32 greedy tokens") {
  check_logits(ctx, phimoe_spec(), "phimoe");
  check_synthetic_greedy(ctx, make_synthetic_model(phimoe_spec()).to_bytes(), small());
}

TEST_CASE("dbrx: the synthetic file parses as llama.cpp reads it") {
  auto bytes = make_synthetic_model(dbrx_spec()).to_bytes();
  auto cfg = load_model_config(GgufFile::from_memory(bytes, "dbrx.gguf"));
  CHECK(cfg.arch == Arch::dbrx);
  CHECK(cfg.rope_layout == RopeLayout::neox);
  CHECK(cfg.layer_norm);
  CHECK_FALSE(cfg.norm_bias);
  CHECK_FALSE(cfg.output_bias);
  CHECK(cfg.norm_eps == 1e-5f);  // layer_norm_epsilon, not the RMS key the writer also sets
  CHECK(cfg.clamp_kqv == 1.5f);
  CHECK(cfg.ffn_norm == "attn_output_norm");
  CHECK(cfg.n_ff_exp == 40);
  CHECK(cfg.router.gating == Gating::softmax_topk);
  CHECK(cfg.router.renormalize);
  CHECK(cfg.describe().find("LayerNorm norms") != std::string::npos);
}

TEST_CASE_FIXTURE(GpuTest, "dbrx: GPU logits match the CPU reference, F32 and F16, and 32 greedy tokens") {
  check_logits(ctx, dbrx_spec(), "dbrx");
  check_synthetic_greedy(ctx, make_synthetic_model(dbrx_spec()).to_bytes(), small());
}

TEST_CASE("arctic: the synthetic file parses as llama.cpp reads it") {
  auto bytes = make_synthetic_model(arctic_spec()).to_bytes();
  auto cfg = load_model_config(GgufFile::from_memory(bytes, "arctic.gguf"));
  CHECK(cfg.arch == Arch::arctic);
  CHECK(cfg.rope_layout == RopeLayout::normal);
  CHECK(cfg.n_ff_exp == 40);
  CHECK(cfg.n_ff == 64);  // the dense residual FFN is n_embd wide
  REQUIRE(cfg.layers.size() == 2);
  CHECK(cfg.layers[0].ffn == FfnKind::moe);
  CHECK(cfg.layers[0].parallel_dense);
  CHECK(cfg.router.gating == Gating::softmax_topk);
  CHECK(cfg.router.renormalize);
}

TEST_CASE_FIXTURE(GpuTest, "arctic: GPU logits match the CPU reference, F32 and F16, and 32 greedy tokens") {
  check_logits(ctx, arctic_spec(), "arctic");
  check_synthetic_greedy(ctx, make_synthetic_model(arctic_spec()).to_bytes(), small());
}

// The synthetic files exercise each particular: the reference without it is far off, so the GPU
// comparisons above would catch a forward that ignored it.
TEST_CASE("phimoe, dbrx, arctic, grok: each particular changes the synthetic model's logits") {
  struct Case {
    std::string what;
    SyntheticSpec spec;
    void (*drop)(ModelConfig&);
  };
  const Case cases[] = {
      {"phimoe norm biases", phimoe_spec(), [](ModelConfig& c) { c.norm_bias = false; }},
      {"phimoe output bias", phimoe_spec(), [](ModelConfig& c) { c.output_bias = false; }},
      {"phimoe LongRoPE factors", phimoe_longrope_spec(), [](ModelConfig& c) { c.rope_factors_long = false; }},
      {"phimoe LongRoPE attn_factor", phimoe_longrope_spec(), [](ModelConfig& c) { c.rope_attn_factor = 1.0f; }},
      {"dbrx LayerNorm", dbrx_spec(), [](ModelConfig& c) { c.layer_norm = false; }},
      {"dbrx clamp_kqv", dbrx_spec(), [](ModelConfig& c) { c.clamp_kqv = 0; }},
      {"arctic dense FFN beside the MoE", arctic_spec(), [](ModelConfig& c) {
         for (auto& s : c.layers) s.parallel_dense = false;
       }},
      {"grok embedding scale", grok_spec(), [](ModelConfig& c) { c.embedding_scale = 0; }},
      {"grok attention softcap", grok_spec(), [](ModelConfig& c) { c.attn_softcap = 0; }},
      {"grok attention output norm", grok_spec(), [](ModelConfig& c) { c.attn_post_norm = false; }},
      {"grok FFN output norm", grok_spec(), [](ModelConfig& c) { c.ffn_post_norm.clear(); }},
      {"grok GELU experts", grok_spec(), [](ModelConfig& c) { c.gelu_experts = false; }},
      {"grok logit scale", grok_spec(), [](ModelConfig& c) { c.logit_scale = 0; }},
      {"grok final softcap", grok_spec(), [](ModelConfig& c) { c.final_softcap = 0; }},
      {"grok2 dense FFN beside the MoE", grok2_spec(), [](ModelConfig& c) {
         for (auto& s : c.layers) s.grok_dense = false;
       }},
      {"grok2 YaRN", grok2_spec(), [](ModelConfig& c) { c.rope_yarn = false; }},
      {"grok2 YaRN ext_factor", grok2_spec(), [](ModelConfig& c) { c.rope_yarn_ext_factor = 1.0f; }},
      {"grok2 YaRN beta_fast", grok2_spec(), [](ModelConfig& c) { c.rope_yarn_beta_fast = 32.0f; }},
  };
  const std::vector<int32_t> tokens = {3, 70, 41, 9, 200};
  for (const auto& c : cases) {
    CAPTURE(c.what);
    auto bytes = make_synthetic_model(c.spec).to_bytes();
    auto file = GgufFile::from_memory(bytes, "synthetic.gguf");
    ModelConfig cfg = load_model_config(file);
    const auto with = reference_forward(file, cfg, tokens);
    c.drop(cfg);
    const auto without = reference_forward(file, cfg, tokens);
    const double diff = rel_l2(std::vector<float>(without.begin(), without.end()), with);
    MESSAGE(c.what << ": rel L2 without it " << diff);
    CHECK(diff > 3e-3);  // 3x the GPU comparison's bound (1e-3): a GPU without the feature fails it
  }
}

// A norm bias where the architecture has none (dbrx's LayerNorms have no bias) would be ignored:
// the file is refused, naming the tensor, as llama.cpp refuses tensors it did not load.
TEST_CASE_FIXTURE(GpuTest, "dbrx: a norm bias the architecture does not have is refused, naming it") {
  auto w = make_synthetic_model(dbrx_spec());
  std::vector<float> bias(64, 0.5f);
  w.add_tensor("blk.1.attn_norm.bias", GgmlType::F32, {64},
               std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bias.data()), bias.size() * 4));
  auto bytes = w.to_bytes();
  CHECK_THROWS_WITH(Model(ctx, GgufFile::from_memory(bytes, "dbrx.gguf"), small()),
                    doctest::Contains("blk.1.attn_norm.bias"));
}

TEST_CASE("grok: the synthetic file parses as llama.cpp reads it") {
  auto bytes = make_synthetic_model(grok_spec()).to_bytes();
  auto cfg = load_model_config(GgufFile::from_memory(bytes, "grok.gguf"));
  CHECK(cfg.arch == Arch::grok);
  CHECK(cfg.rope_layout == RopeLayout::neox);
  CHECK(cfg.embedding_scale == 3.0f);
  CHECK(cfg.attn_scale == 0.5f);  // attention.output_scale multiplies q.k, not 1/sqrt(head_dim)
  CHECK(cfg.attn_softcap == 1.5f);
  CHECK(cfg.logit_scale == 0.75f);
  CHECK(cfg.final_softcap == 2.0f);
  CHECK(cfg.attn_post_norm);
  CHECK(cfg.ffn_post_norm == "layer_output_norm");
  CHECK(cfg.gelu_experts);
  CHECK(cfg.n_ff_exp == 40);
  CHECK(cfg.router.gating == Gating::softmax_topk);
  CHECK(cfg.router.renormalize);
}

TEST_CASE_FIXTURE(GpuTest, "grok: GPU logits match the CPU reference, F32 and F16, and 32 greedy tokens") {
  check_logits(ctx, grok_spec(), "grok");
  check_synthetic_greedy(ctx, make_synthetic_model(grok_spec()).to_bytes(), small());
}

TEST_CASE("grok2: the synthetic file parses as llama.cpp reads it") {
  auto bytes = make_synthetic_model(grok2_spec()).to_bytes();
  auto cfg = load_model_config(GgufFile::from_memory(bytes, "grok2.gguf"));
  CHECK(cfg.rope_yarn);
  CHECK(cfg.rope_freq_scale == 0.25f);
  CHECK(cfg.rope_yarn_orig_ctx == 256);
  CHECK(cfg.rope_yarn_ext_factor == 0.8f);
  CHECK(cfg.rope_yarn_beta_fast == 8.0f);
  CHECK(cfg.rope_yarn_beta_slow == 1.0f);
  CHECK(cfg.rope_attn_factor == 1.0f);  // yarn_attn_factor: overwritten under the YaRN ramp
  CHECK(cfg.n_ff == 40);
  for (const LayerSpec& l : cfg.layers) CHECK(l.grok_dense);
  // Grok-1: no YaRN, no ramp; grok's own beta_fast default all the same.
  auto bytes1 = make_synthetic_model(grok_spec()).to_bytes();
  auto cfg1 = load_model_config(GgufFile::from_memory(bytes1, "grok.gguf"));
  CHECK(cfg1.rope_yarn_ext_factor == 0.0f);
  CHECK(cfg1.rope_yarn_beta_fast == 8.0f);
  for (const LayerSpec& l : cfg1.layers) CHECK(!l.grok_dense);
}

// A dense FFN in some layers only is not what llama.cpp's Grok-2 files hold: refused, naming the tensor.
TEST_CASE("grok2: a dense FFN tensor in one layer only is refused, naming it") {
  auto w = make_synthetic_model(grok_spec());
  std::vector<float> up(64 * 40, 0.5f);
  w.add_tensor("blk.1.ffn_up.weight", GgmlType::F32, {64, 40},
               std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(up.data()), up.size() * 4));
  auto bytes = w.to_bytes();
  CHECK_THROWS_WITH(load_model_config(GgufFile::from_memory(bytes, "grok.gguf")), doctest::Contains("blk.1.ffn_up.weight"));
}

TEST_CASE_FIXTURE(GpuTest, "grok2: GPU logits match the CPU reference, F32 and F16, and 32 greedy tokens") {
  check_logits(ctx, grok2_spec(), "grok2");
  check_synthetic_greedy(ctx, make_synthetic_model(grok2_spec()).to_bytes(), small());
}
