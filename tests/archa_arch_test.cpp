// The architectures of the archa batch (issue 10), each on small synthetic models: what the file
// means as llama.cpp reads it, the GPU forward against the double-precision reference (F32 and
// F16) and 32 greedy tokens against the reference's.
//  - ernie4_5-moe: normal RoPE, q/k/v biases, a dense first layer, softmax routing whose top-k
//    is chosen by probability + exp_probs_b and renormalised, one shared FFN.
//  - dots1: per-head QK-norm, NeoX RoPE, a dense first layer, sigmoid routing with selection
//    bias (and the softmax form), renormalised and scaled, two shared experts as one FFN.
//  - granitemoe: normal RoPE, softmax routing renormalised, and Granite's embedding, residual,
//    attention and logit scales.
//  - hunyuan-moe: per-head QK-norm after NeoX RoPE, softmax routing renormalised, a shared
//    expert of its own width on every layer.
//  - minimax-m2: whole-vector QK-norm before partial NeoX RoPE, sigmoid routing with selection
//    bias, renormalised.
#include <doctest/doctest.h>

#include "runtime/model/model.h"
#include "runtime/model/synthetic_model.h"
#include "tests/gpu_fixture.h"
#include "tests/model_test_util.h"
#include "tests/test_util.h"

using namespace vkmoe;
using namespace vkmoe::test;

namespace {

// GPU logits of a synthetic spec in F32 (bound 1e-3) and F16 (1e-2), then greedy tokens in F32.
void check_arch_on_gpu(Context& ctx, SyntheticSpec spec) {
  for (auto [type, bound] : {std::pair{GgmlType::F32, 1e-3}, std::pair{GgmlType::F16, 1e-2}}) {
    std::string type_s(ggml_type_name(type));
    CAPTURE(type_s);
    spec.matrix_type = type;
    const double err = synthetic_gpu_error(ctx, make_synthetic_model(spec).to_bytes(), 64);
    MESSAGE(spec.name << " " << type_s << ": relative L2 " << err);
    CHECK(err < bound);
  }
  spec.matrix_type = GgmlType::F32;
  check_synthetic_greedy(ctx, make_synthetic_model(spec).to_bytes());
}

SyntheticSpec ernie_spec() {
  return {.arch = Arch::ernie4_5_moe, .name = "ernie-synthetic", .n_layer = 3, .n_expert_shared = 1, .seed = rng()()};
}

SyntheticSpec dots_spec(bool sigmoid) {
  // As many KV heads as query heads: llama.cpp's dots1 loader sizes attn_k/attn_v by head_count.
  return {.arch = Arch::dots1, .name = sigmoid ? "dots1-synthetic" : "dots1-softmax-synthetic", .n_layer = 3,
          .n_head_kv = 4, .sigmoid_gating = sigmoid, .routed_scale = 2.5f, .seed = rng()()};
}

SyntheticSpec granite_spec() { return {.arch = Arch::granitemoe, .name = "granitemoe-synthetic", .seed = rng()()}; }

SyntheticSpec hunyuan_spec() {
  return {.arch = Arch::hunyuan_moe, .name = "hunyuan-synthetic", .n_ff_shexp = 48, .seed = rng()()};
}

SyntheticSpec minimax_spec() {
  return {.arch = Arch::minimax_m2, .name = "minimax-m2-synthetic", .sigmoid_gating = true, .seed = rng()()};
}

}  // namespace

TEST_CASE("ernie4_5-moe: the synthetic file parses as llama.cpp reads it") {
  auto bytes = make_synthetic_model(ernie_spec()).to_bytes();
  auto cfg = load_model_config(GgufFile::from_memory(bytes, "ernie.gguf"));
  CHECK(cfg.arch == Arch::ernie4_5_moe);
  CHECK(cfg.rope_layout == RopeLayout::normal);
  CHECK(cfg.qkv_bias);
  CHECK(cfg.router.gating == Gating::softmax_topk);
  CHECK(cfg.router.renormalize);
  CHECK(cfg.router.scale == 1.0f);
  CHECK(cfg.n_expert_shared == 1);
  CHECK(cfg.n_ff_shexp == cfg.n_ff_exp);  // expert_shared_feed_forward_length
  REQUIRE(cfg.layers.size() == 3);
  CHECK(cfg.layers[0].ffn == FfnKind::dense);
  CHECK(cfg.layers[1].ffn == FfnKind::moe);
  CHECK(cfg.layers[2].shared_experts);
  const std::string text = cfg.describe();
  CHECK(text.find("softmax, then top-k by probability + selection bias") != std::string::npos);
  // Without a shared width there is no shared expert.
  SyntheticSpec plain = ernie_spec();
  plain.n_expert_shared = 0;
  auto plain_bytes = make_synthetic_model(plain).to_bytes();
  CHECK(load_model_config(GgufFile::from_memory(plain_bytes, "ernie.gguf")).n_expert_shared == 0);
}

TEST_CASE("ernie4_5-moe: attn_output.bias, which llama.cpp loads but never applies, is refused") {
  GgufWriter w = make_synthetic_model(ernie_spec());
  std::vector<uint8_t> zeros(64 * 4, 0);
  w.add_tensor("blk.0.attn_output.bias", GgmlType::F32, {64}, zeros);
  auto bytes = w.to_bytes();
  CHECK_THROWS_WITH(load_model_config(GgufFile::from_memory(bytes, "ernie.gguf")),
                    doctest::Contains("'blk.0.attn_output.bias'"));
}

TEST_CASE("ernie4_5-moe: an interleave step that makes later layers dense is refused, naming it") {
  GgufWriter w = make_synthetic_model(ernie_spec());
  w.set_uint32("ernie4_5-moe.interleave_moe_layer_step", 2);
  auto bytes = w.to_bytes();
  CHECK_THROWS_WITH(load_model_config(GgufFile::from_memory(bytes, "ernie.gguf")),
                    doctest::Contains("interleave_moe_layer_step 2 makes layer 2 dense"));
}

TEST_CASE_FIXTURE(GpuTest, "ernie4_5-moe: GPU logits and greedy tokens match the reference") {
  check_arch_on_gpu(ctx, ernie_spec());
}

TEST_CASE("dots1: the synthetic file parses as llama.cpp reads it") {
  auto bytes = make_synthetic_model(dots_spec(true)).to_bytes();
  auto cfg = load_model_config(GgufFile::from_memory(bytes, "dots1.gguf"));
  CHECK(cfg.arch == Arch::dots1);
  CHECK(cfg.rope_layout == RopeLayout::neox);
  CHECK(cfg.n_rot == cfg.head_dim_k);
  CHECK(cfg.qk_norm_per_head);
  CHECK_FALSE(cfg.qkv_bias);
  CHECK(cfg.router.gating == Gating::sigmoid_group);
  CHECK(cfg.router.renormalize);
  CHECK(cfg.router.scale == 2.5f);
  CHECK(cfg.router.n_group == 1);  // llama.cpp reads no expert groups for dots1
  CHECK(cfg.n_ff_shexp == 2 * cfg.n_ff_exp);
  REQUIRE(cfg.layers.size() == 3);
  CHECK(cfg.layers[0].ffn == FfnKind::dense);
  CHECK(cfg.layers[1].shared_experts);
  auto soft = make_synthetic_model(dots_spec(false)).to_bytes();
  auto soft_cfg = load_model_config(GgufFile::from_memory(soft, "dots1.gguf"));
  CHECK(soft_cfg.router.gating == Gating::softmax_topk);
  CHECK(soft_cfg.softmax_selection_bias);
  // No gating function: llama.cpp has no default for dots1.
  GgufWriter w = make_synthetic_model(dots_spec(true));
  w.set_uint32("dots1.expert_gating_func", 0);
  auto bad = w.to_bytes();
  CHECK_THROWS_WITH(load_model_config(GgufFile::from_memory(bad, "dots1.gguf")),
                    doctest::Contains("expert_gating_func 0"));
}

TEST_CASE_FIXTURE(GpuTest, "dots1: GPU logits and greedy tokens match the reference") {
  check_arch_on_gpu(ctx, dots_spec(true));
  const double err = synthetic_gpu_error(ctx, make_synthetic_model(dots_spec(false)).to_bytes(), 64);
  MESSAGE("dots1 softmax form F32: relative L2 " << err);
  CHECK(err < 1e-3);
}

TEST_CASE("granitemoe: the synthetic file parses as llama.cpp reads it") {
  auto bytes = make_synthetic_model(granite_spec()).to_bytes();
  auto cfg = load_model_config(GgufFile::from_memory(bytes, "granite.gguf"));
  CHECK(cfg.arch == Arch::granitemoe);
  CHECK(cfg.rope_layout == RopeLayout::normal);
  CHECK(cfg.router.gating == Gating::softmax_topk);
  CHECK(cfg.router.renormalize);
  CHECK(cfg.embedding_scale == 4.0f);
  CHECK(cfg.residual_scale == 0.5f);
  CHECK(cfg.router.scale == 0.5f);  // the FFN's residual scale on the routed weights
  CHECK(cfg.attn_scale == 0.1f);
  CHECK(cfg.logit_scale == doctest::Approx(1.0f / 3.0f));  // llama.cpp divides by the key
  CHECK(cfg.n_ff_exp == cfg.n_ff);
  CHECK(cfg.n_expert_shared == 0);
  const std::string text = cfg.describe();
  CHECK(text.find("embeddings x 4") != std::string::npos);
  CHECK(text.find("logits x 0.333") != std::string::npos);  // the file says 3: llama.cpp divides
  // Without RoPE (llama.cpp then runs none) the file is refused, naming the key.
  GgufWriter w = make_synthetic_model(granite_spec());
  w.set_bool("granitemoe.rope.scaling.finetuned", false);
  auto no_rope = w.to_bytes();
  CHECK_THROWS_WITH(load_model_config(GgufFile::from_memory(no_rope, "granite.gguf")),
                    doctest::Contains("rope.scaling.finetuned = false"));
  // A shared expert would need the residual scale apart from the routed weights: refused.
  GgufWriter shared = make_synthetic_model(granite_spec());
  shared.set_uint32("granitemoe.expert_shared_feed_forward_length", 32);
  auto shared_bytes = shared.to_bytes();
  CHECK_THROWS_WITH(load_model_config(GgufFile::from_memory(shared_bytes, "granite.gguf")),
                    doctest::Contains("residual_scale with a shared expert"));
}

TEST_CASE_FIXTURE(GpuTest, "granitemoe: GPU logits and greedy tokens match the reference") {
  check_arch_on_gpu(ctx, granite_spec());
}

TEST_CASE("hunyuan-moe: the synthetic file parses as llama.cpp reads it") {
  auto bytes = make_synthetic_model(hunyuan_spec()).to_bytes();
  auto cfg = load_model_config(GgufFile::from_memory(bytes, "hunyuan.gguf"));
  CHECK(cfg.arch == Arch::hunyuan_moe);
  CHECK(cfg.rope_layout == RopeLayout::neox);
  CHECK(cfg.qk_norm_per_head);
  CHECK(cfg.qk_norm_after_rope);
  CHECK(cfg.router.gating == Gating::softmax_topk);
  CHECK(cfg.router.renormalize);
  CHECK(cfg.n_ff_exp == cfg.n_ff);
  CHECK(cfg.n_ff_shexp == 48);
  REQUIRE(cfg.layers.size() == 2);
  CHECK(cfg.layers[0].ffn == FfnKind::moe);
  CHECK(cfg.layers[0].shared_experts);
  CHECK(cfg.describe().find("per-head QK-norm (after RoPE)") != std::string::npos);
}

TEST_CASE_FIXTURE(GpuTest, "hunyuan-moe: GPU logits and greedy tokens match the reference") {
  check_arch_on_gpu(ctx, hunyuan_spec());
}

TEST_CASE("minimax-m2: the synthetic file parses as llama.cpp reads it") {
  auto bytes = make_synthetic_model(minimax_spec()).to_bytes();
  auto cfg = load_model_config(GgufFile::from_memory(bytes, "minimax.gguf"));
  CHECK(cfg.arch == Arch::minimax_m2);
  CHECK(cfg.rope_layout == RopeLayout::neox);
  CHECK(cfg.n_rot == cfg.head_dim_k / 2);  // partial RoPE
  CHECK(cfg.qk_norm_full);
  CHECK_FALSE(cfg.qk_norm_per_head);
  CHECK(cfg.router.gating == Gating::sigmoid_group);
  CHECK(cfg.router.renormalize);
  CHECK(cfg.router.scale == 1.0f);
  CHECK(cfg.n_expert_shared == 0);
  CHECK(cfg.describe().find("partial: 8 of 16") != std::string::npos);
}

TEST_CASE_FIXTURE(GpuTest, "minimax-m2: GPU logits and greedy tokens match the reference") {
  check_arch_on_gpu(ctx, minimax_spec());
}
