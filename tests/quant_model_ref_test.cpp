// The codecs end to end: the double-precision CPU reference forward on files llama-quantize wrote
// (Q3_K_M: Q3_K/Q4_K/Q5_K/Q6_K mixed; IQ4_XS) against llama.cpp's own CPU logits. llama.cpp
// quantizes activations to 8 bits there, hence rel L2 <= 3e-2 (../shared/models/llamacpp/README.md).
#include <doctest/doctest.h>

#include <algorithm>
#include <map>

#include "runtime/gguf/gguf_reader.h"
#include "runtime/model/model_config.h"
#include "runtime/quant/quant.h"
#include "runtime/reference/forward_ref.h"
#include "tests/test_util.h"

using namespace vkmoe;
using namespace vkmoe::test;

TEST_CASE("reference forward on llama.cpp's Q3_K_M and IQ4_XS files matches llama.cpp's logits") {
  const std::vector<int32_t> tokens = {5, 17, 42, 99, 3, 250, 7, 128, 64, 1};
  for (std::string name : {"qwen3moe-Q3_K_M", "qwen3moe-IQ4_XS"}) {
    CAPTURE(name);
    const auto path = llamacpp_file(name);
    if (path.empty()) return;
    auto file = GgufFile::open(path);
    std::map<std::string, int> types;
    for (const auto& t : file.tensors()) ++types[std::string(ggml_type_name(t.type))];
    std::string list;
    for (const auto& [t, n] : types) list += t + " x" + std::to_string(n) + " ";
    MESSAGE(name << " tensor types: " << list);
    const auto cfg = load_model_config(file);
    const auto want = llamacpp_logits(path, tokens.size() * cfg.n_vocab);
    const auto ref = reference_forward(file, cfg, tokens);
    const std::vector<float> got(ref.begin(), ref.end());
    const double err = rel_l2(got, want);  // relative to llama.cpp's logits
    MESSAGE(name << ": rel L2 of the reference forward vs llama.cpp " << err);
    CHECK(err < 3e-2);
  }
}

TEST_CASE("MXFP4 experts of llama-quantize's gpt-oss file are our quantization of its F32 source") {
  const auto q_path = llamacpp_file("gpt-oss-moe-mxfp4");
  const auto f_path = llamacpp_file("gpt-oss-moe");
  if (q_path.empty() || f_path.empty()) return;
  auto qf = GgufFile::open(q_path);
  auto ff = GgufFile::open(f_path);
  int checked = 0;
  for (const auto& t : qf.tensors()) {
    if (t.type != GgmlType::MXFP4) continue;
    CAPTURE(t.name);
    const GgufTensorInfo* src = ff.find_tensor(t.name);
    REQUIRE(src);
    REQUIRE(src->type == GgmlType::F32);
    const auto f32 = ff.tensor_data(*src);
    const auto x = std::span<const float>(reinterpret_cast<const float*>(f32.data()), src->elements());
    const auto mine = quantize(GgmlType::MXFP4, x);
    const auto theirs = qf.tensor_data(t);
    REQUIRE(mine.size() == theirs.size());
    CHECK(std::equal(mine.begin(), mine.end(), theirs.begin()));
    const auto y = dequantize(GgmlType::MXFP4, std::span<const uint8_t>(theirs.data(), theirs.size()), x.size());
    MESSAGE(t.name << ": rel L2 of MXFP4 vs F32 " << rel_l2(y, x));
    ++checked;
  }
  CHECK(checked > 0);
}
