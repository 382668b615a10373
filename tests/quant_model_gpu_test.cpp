// The types of issue 11 end to end on the GPU: llama-quantize's Q3_K_M and IQ4_XS files against
// llama.cpp's logits; per type a synthetic model against the double-precision reference; gate,
// up and down of three different types; and a truly unsupported type refused by name.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>

#include "runtime/gguf/gguf_reader.h"
#include "runtime/kernels/moe_experts.h"
#include "runtime/model/model.h"
#include "runtime/model/model_config.h"
#include "runtime/model/synthetic_model.h"
#include "runtime/reference/forward_ref.h"
#include "tests/gpu_fixture.h"
#include "tests/model_test_util.h"
#include "tests/quant_blocks_util.h"
#include "tests/test_util.h"

using namespace vkmoe;
using namespace vkmoe::test;

namespace {

// GPU logits of 13 tokens (batches of 8 and 5) against the
// reference up to the first routing near-tie; returns the relative L2 error (-1: no clear token).
double synthetic_error(Context& ctx, SyntheticSpec spec) {
  spec.encode = blocks_like;
  return synthetic_gpu_error(ctx, make_synthetic_model(spec).to_bytes(), 32);
}

// Widths that are whole blocks of 256 (H, F, the attention's NH * D).
SyntheticSpec wide_spec(Arch arch) {
  return {.arch = arch, .n_embd = 256, .head_dim = 64, .n_ff_exp = 256, .n_ff_shexp = 256, .seed = rng()()};
}

}  // namespace

TEST_CASE_FIXTURE(GpuTest, "GPU forward on llama.cpp's Q3_K_M and IQ4_XS files matches llama.cpp's logits") {
  const std::vector<int32_t> tokens = {5, 17, 42, 99, 3, 250, 7, 128, 64, 1};
  for (std::string name : {"qwen3moe-Q3_K_M", "qwen3moe-IQ4_XS"}) {
    CAPTURE(name);
    const auto path = llamacpp_file(name);
    if (path.empty()) return;
    Model m(ctx, GgufFile::open(path), {.n_ctx = 32, .progress = false});
    const uint32_t V = m.config().n_vocab;
    const auto want = llamacpp_logits(path, tokens.size() * V);
    const auto got = m.forward(tokens, 0, LogitsMode::all);
    const double err = rel_l2(got, want);
    MESSAGE(name << ": rel L2 of the GPU logits vs llama.cpp " << err);
    CHECK(err < 3e-2);  // llama.cpp quantizes activations to 8 bits (the folder's README)
  }
}

TEST_CASE_FIXTURE(GpuTest, "every type of issue 11: a synthetic model on the GPU matches the reference") {
  for (const NewType& nt : new_types()) {
    CAPTURE(ggml_type_name(nt.type));
    SyntheticSpec spec = wide_spec(Arch::qwen3moe);
    if (ggml_type_info(uint32_t(nt.type))->block_elems == 32) spec = {.n_embd = 96, .n_ff_exp = 32, .seed = rng()()};
    spec.matrix_type = nt.type;
    const double err = synthetic_error(ctx, spec);
    MESSAGE(ggml_type_name(nt.type) << ": relative L2 " << err);
    CHECK(err < 1e-3);
  }
}

TEST_CASE_FIXTURE(GpuTest, "gate, up and down of three types (and layers of other types) run against the reference") {
  struct Case {
    GgmlType gate, up, down;
  };
  for (const Case c : {Case{GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::Q4_K},
                       Case{GgmlType::IQ4_XS, GgmlType::Q3_K, GgmlType::Q2_K}}) {
    CAPTURE(ggml_type_name(c.gate));
    SyntheticSpec spec = wide_spec(Arch::mixtral);
    spec.matrix_type = GgmlType::Q8_0;
    spec.tensor_types = {{"blk.1.ffn_gate_exps.weight", c.up},  // layer 1: gate and up fused again
                         {"ffn_gate_exps.weight", c.gate},
                         {"ffn_up_exps.weight", c.up},
                         {"ffn_down_exps.weight", c.down}};
    const double err = synthetic_error(ctx, spec);
    MESSAGE(ggml_type_name(c.gate) << "/" << ggml_type_name(c.up) << "/" << ggml_type_name(c.down)
                                   << ": relative L2 " << err);
    CHECK(err < 1e-3);
    // The batched path (two gate/up GEMM passes): 4 experts, top-3, 13 tokens in one batch,
    // above the crossover (lavapipe: 11 tokens).
    spec.n_expert = 4, spec.n_expert_used = 3, spec.seed = rng()();
    REQUIRE(default_batched_from_tokens(ctx.device(), 4, 3) <= 13);
    spec.encode = blocks_like;
    const double err_batched = synthetic_gpu_error(ctx, make_synthetic_model(spec).to_bytes(), 32, 13);
    MESSAGE("the same, batched path: relative L2 " << err_batched);
    CHECK(err_batched < 1e-3);
  }
}

TEST_CASE_FIXTURE(GpuTest, "a tensor of a type no kernel reads is refused naming file, tensor and type") {
  // F16 and I16 rows take the same bytes: retyping one tensor in the header keeps the file valid.
  auto bytes = make_synthetic_model({.matrix_type = GgmlType::F16, .seed = 3}).to_bytes();
  const std::string name = "blk.1.ffn_up_exps.weight";
  const auto at = std::search(bytes.begin(), bytes.end(), name.begin(), name.end());
  REQUIRE(at != bytes.end());
  const size_t pos = size_t(at - bytes.begin()) + name.size();
  uint32_t dims;
  std::memcpy(&dims, &bytes[pos], 4);
  const uint32_t type = uint32_t(GgmlType::I16);
  std::memcpy(&bytes[pos + 4 + 8 * dims], &type, 4);
  CHECK_THROWS_WITH(Model(ctx, GgufFile::from_memory(bytes, "odd.gguf"), {.n_ctx = 16, .progress = false}),
                    doctest::Contains("odd.gguf: tensor 'blk.1.ffn_up_exps.weight' has type i16"));
}
