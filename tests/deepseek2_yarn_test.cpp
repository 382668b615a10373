// DeepSeek's YaRN (deepseek2): what the rope.scaling keys of a file mean, as current llama.cpp
// reads them (runtime/model/rope_scaling.h), for files from older converters (yarn_log_multiplier,
// nothing else) and newer ones (also yarn_beta_fast / yarn_beta_slow, which deepseek2 ignores),
// with and without yarn_log_multiplier and rope.scaling.attn_factor; the GPU forward and the CPU
// reference agree on each.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "runtime/gguf/gguf_reader.h"
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

// The rope.scaling keys a converter writes for a DeepSeek-V3-style config.
struct YarnKeys {
  std::string type = "yarn";  // "yarn", "linear" or "none"
  float factor = 40.0f;
  bool log_mul = true;        // rope.scaling.yarn_log_multiplier = 0.1 * mscale_all_dim
  float log_mul_value = 0.1f;
  float attn_factor = 0.0f;   // > 0: rope.scaling.attn_factor
  bool newer = false;         // the newer converter's extra keys (Kimi-K2's betas 1 and 1)
};

GgufWriter deepseek2_file(const YarnKeys& k, GgmlType type = GgmlType::F32, uint64_t seed = 1) {
  SyntheticSpec s = deepseek_v3_form({.arch = Arch::deepseek2, .n_layer = 3, .matrix_type = type, .seed = seed});
  s.yarn_factor = 0.0f;  // the keys are written here
  GgufWriter w = make_synthetic_model(s);
  const std::string p = "deepseek2.rope.scaling.";
  if (k.type != "none") {
    w.set_string(p + "type", k.type);
    w.set_float32(p + "factor", k.factor);
  }
  if (k.type == "yarn") w.set_uint32(p + "original_context_length", 256);
  if (k.log_mul) w.set_float32(p + "yarn_log_multiplier", k.log_mul_value);
  if (k.attn_factor > 0) w.set_float32(p + "attn_factor", k.attn_factor);
  if (k.newer) {
    w.set_float32(p + "yarn_beta_fast", 1.0f);
    w.set_float32(p + "yarn_beta_slow", 1.0f);
  }
  return w;
}

ModelConfig config_of(const GgufWriter& w) { return load_model_config(GgufFile::from_memory(w.to_bytes(), "ds.gguf")); }

struct Factors {
  double rope_magnitude, kq_factor;
};

// llama.cpp's computation for a deepseek2 file, transcribed in its float arithmetic: load_hparams
// (rope_yarn_log_mul /= 0.1), llama_context's cparams.yarn_attn_factor, deepseek2.cpp's
// attn_factor_org / mscale / kq_scale, and ggml's RoPE, which multiplies cos/sin by 1 + 0.1 ln F
// under YaRN.
Factors llamacpp_deepseek2(const YarnKeys& k) {
  const float freq_scale = k.type == "none" ? 1.0f : 1.0f / k.factor;
  const float rope_yarn_log_mul = k.log_mul ? k.log_mul_value / 0.1f : 0.0f;
  const float ext_factor = k.type == "yarn" ? 1.0f : 0.0f;
  float yarn_attn_factor = 1.0f;
  if (ext_factor != 0) {
    auto get_mscale = [](float scale, float mscale) { return scale <= 1.0f ? 1.0f : 0.1f * mscale * logf(scale) + 1.0f; };
    const float factor = 1.0f / freq_scale;
    if (rope_yarn_log_mul != 0.0f) {
      float mscale = 1.0f;
      const float mscale_all_dims = rope_yarn_log_mul;
      if (mscale_all_dims != 1.0f) mscale = mscale_all_dims;  // LLM_ARCH_DEEPSEEK2
      yarn_attn_factor = get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dims);
    } else {
      yarn_attn_factor = get_mscale(factor, 1.0f);
    }
    yarn_attn_factor *= 1.0f / (1.0f + 0.1f * logf(factor));
  }
  yarn_attn_factor *= k.attn_factor > 0 ? k.attn_factor : 1.0f;
  const float attn_factor = yarn_attn_factor;
  const float attn_factor_org = attn_factor * (1.0f + 0.1f * logf(1.0f / freq_scale));
  const float mscale = attn_factor_org * (1.0f + 0.1f * rope_yarn_log_mul * logf(1.0f / freq_scale));
  const float ggml = ext_factor != 0 ? 1.0f + 0.1f * logf(1.0f / freq_scale) : 1.0f;
  return {double(attn_factor) * ggml, double(mscale) * mscale};
}

std::vector<YarnKeys> key_sets() {
  std::vector<YarnKeys> sets;
  for (const char* type : {"yarn", "linear", "none"})
    for (float factor : {4.0f, 40.0f})
      for (float log_mul : {0.0f, 0.0707f, 0.1f})
        for (float attn : {0.0f, 1.25f})
          sets.push_back({.type = type, .factor = factor, .log_mul = log_mul > 0, .log_mul_value = log_mul, .attn_factor = attn});
  return sets;
}

}  // namespace

TEST_CASE("deepseek2 YaRN: RoPE's magnitude and the logit scale are llama.cpp's for every form of the keys") {
  for (const YarnKeys& k : key_sets()) {
    CAPTURE(k.type);
    CAPTURE(k.factor);
    CAPTURE(k.log_mul_value);
    CAPTURE(k.attn_factor);
    const ModelConfig c = config_of(deepseek2_file(k));
    const Factors want = llamacpp_deepseek2(k);
    CHECK(rope_magnitude(c, true) == doctest::Approx(want.rope_magnitude).epsilon(1e-6));
    CHECK(mla_logit_scale(c) == doctest::Approx(want.kq_factor).epsilon(1e-6));
    // Other architectures: llama.cpp never reads yarn_log_multiplier, so RoPE keeps a (times g).
    const double g = k.type == "yarn" ? 1.0 + 0.1 * std::log(double(k.factor)) : 1.0;
    CHECK(rope_magnitude(c, false) == doctest::Approx((k.attn_factor > 0 ? k.attn_factor : 1.0) * g).epsilon(1e-6));
  }
}

TEST_CASE("deepseek2 YaRN: the newer converter's extra keys change nothing; yarn_log_multiplier and attn_factor do") {
  const auto tokens = std::vector<int32_t>{5, 17, 42, 99, 3, 250, 7, 128, 64, 1, 200};
  auto logits = [&](const YarnKeys& k) {
    auto bytes = deepseek2_file(k).to_bytes();
    auto file = GgufFile::from_memory(bytes, "ds.gguf");
    return reference_forward(file, load_model_config(file), tokens);
  };
  const YarnKeys older{};
  const ModelConfig a = config_of(deepseek2_file(older)), b = config_of(deepseek2_file({.newer = true}));
  CHECK(b.rope_yarn_beta_fast == a.rope_yarn_beta_fast);
  CHECK(b.rope_yarn_beta_slow == a.rope_yarn_beta_slow);
  CHECK(b.rope_yarn_beta_fast == 32.0f);
  const auto base = logits(older);
  CHECK(logits({.newer = true}) == base);
  // Each key that means something moves the logits well beyond rounding.
  CHECK(rel_l2(std::vector<float>(base.begin(), base.end()), logits({.log_mul = false})) > 1e-2);
  CHECK(rel_l2(std::vector<float>(base.begin(), base.end()), logits({.attn_factor = 1.25f})) > 1e-2);
}

TEST_CASE_FIXTURE(GpuTest, "deepseek2 YaRN: GPU logits match the CPU reference without yarn_log_multiplier and with attn_factor") {
  for (const YarnKeys& k : {YarnKeys{.log_mul = false}, YarnKeys{.attn_factor = 1.25f}}) {
    CAPTURE(k.log_mul);
    CAPTURE(k.attn_factor);
    auto bytes = deepseek2_file(k, GgmlType::F32, rng()()).to_bytes();
    auto tokens = random_tokens(11, load_model_config(GgufFile::from_memory(bytes, "ds.gguf")).n_vocab);
    const double err = synthetic_tokens_error(ctx, bytes, tokens, {.n_ctx = 64, .n_batch = 8, .progress = false});
    if (err >= 0) CHECK(err < 1e-3);
  }
}
