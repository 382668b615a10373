// What llama.cpp's loader makes of a file, where vkmoe must read it the same way: shapes that
// differ only by trailing 1s, and which key sizes the experts of each architecture.
#include <doctest/doctest.h>

#include <vector>

#include "runtime/gguf/gguf.h"
#include "runtime/gguf/gguf_reader.h"
#include "runtime/model/model_config.h"
#include "runtime/model/synthetic_model.h"

namespace vkmoe {
namespace {

std::vector<uint64_t> v(std::initializer_list<uint64_t> l) { return l; }

ModelConfig config_with_expert_ffl_zero(Arch arch) {
  SyntheticSpec s;
  s.arch = arch;
  s.n_ff_exp = 96;
  GgufWriter w = make_synthetic_model(s);
  const std::string key = std::string(GgufFile::from_memory(w.to_bytes(), "synthetic.gguf").architecture());
  w.set_uint32(key + ".expert_feed_forward_length", 0);
  return load_model_config(GgufFile::from_memory(w.to_bytes(), "ffl0.gguf"));
}

}  // namespace

TEST_CASE("shapes compare modulo trailing 1s, as ggml writes them") {
  CHECK(same_shape(v({128, 512}), v({128, 512, 1})));
  CHECK(same_shape(v({128, 512, 1, 1}), v({128, 512})));
  CHECK(same_shape(v({7}), v({7, 1})));
  CHECK_FALSE(same_shape(v({128, 512}), v({128, 512, 2})));
  CHECK_FALSE(same_shape(v({128, 1, 512}), v({128, 512})));
  CHECK_FALSE(same_shape(v({512, 128}), v({128, 512})));
  CHECK(shape_dim(v({4, 5}), 2) == 1);
  CHECK(shape_dim(v({4, 5}), 1) == 5);
  CHECK(shape_rank(v({4, 5, 1, 1})) == 2);
  CHECK(shape_rank(v({1})) == 1);
  CHECK(shape_rank(v({4, 1, 3})) == 3);
}

TEST_CASE("expert width: llama and OLMoE use feed_forward_length, Qwen n_ff / k when the key is 0") {
  // The synthetic writer sets feed_forward_length = F (96) for these architectures.
  CHECK(config_with_expert_ffl_zero(Arch::mixtral).n_ff_exp == 96);
  CHECK(config_with_expert_ffl_zero(Arch::olmoe).n_ff_exp == 96);
  const ModelConfig q = config_with_expert_ffl_zero(Arch::qwen3moe);
  CHECK(q.n_ff_exp == q.n_ff / q.n_expert_used);
}

TEST_CASE("rope.scaling.attn_factor scales RoPE for every architecture, as llama.cpp") {
  for (Arch arch : {Arch::qwen3moe, Arch::mixtral, Arch::deepseek2, Arch::glm4moe}) {
    CAPTURE(arch_name(arch));
    GgufWriter w = make_synthetic_model({.arch = arch});
    const std::string key = std::string(GgufFile::from_memory(w.to_bytes(), "synthetic.gguf").architecture());
    CHECK(load_model_config(GgufFile::from_memory(w.to_bytes(), "a.gguf")).rope_attn_factor == 1.0f);
    w.set_float32(key + ".rope.scaling.attn_factor", 1.25f);
    CHECK(load_model_config(GgufFile::from_memory(w.to_bytes(), "a.gguf")).rope_attn_factor == 1.25f);
  }
}

}  // namespace vkmoe
