// The CPU reference forward against logits another implementation computed for the model files
// in ../shared/models (skipped when that folder is absent).
#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime/gguf/gguf_reader.h"
#include "runtime/model/model_config.h"
#include "runtime/reference/forward_ref.h"
#include "tests/test_util.h"

using namespace vkmoe;
using namespace vkmoe::test;

namespace {
struct Expected {
  std::vector<int32_t> prompt, greedy;
  uint32_t n_vocab = 0;
  std::vector<float> logits;
};

Expected load_expected(const std::filesystem::path& json_path) {
  std::ifstream f(json_path);
  auto j = nlohmann::json::parse(f);
  Expected e;
  e.prompt = j["prompt_tokens"].get<std::vector<int32_t>>();
  e.greedy = j["greedy_continuation"].get<std::vector<int32_t>>();
  e.n_vocab = j["n_vocab"].get<uint32_t>();
  std::ifstream lf(json_path.parent_path() / j["logits_file"].get<std::string>(), std::ios::binary);
  e.logits.resize(e.prompt.size() * e.n_vocab);
  lf.read(reinterpret_cast<char*>(e.logits.data()), static_cast<std::streamsize>(e.logits.size() * 4));
  REQUIRE(lf.gcount() == static_cast<std::streamsize>(e.logits.size() * 4));
  return e;
}
}  // namespace

TEST_CASE("reference forward matches the shared models' expected logits") {
  auto dir = shared_dir();
  if (dir.empty()) {
    MESSAGE("../shared not present: skipped");
    return;
  }
  for (std::string name : {"qwen3moe-tiny-f32", "mixtral-tiny-q4k"}) {
    CAPTURE(name);
    auto file = GgufFile::open(dir / "models" / (name + ".gguf"));
    auto cfg = load_model_config(file);
    MESSAGE(name << ": " << cfg.describe());
    auto exp = load_expected(dir / "models" / (name + ".expected.json"));
    REQUIRE(cfg.n_vocab == exp.n_vocab);
    auto logits = reference_forward(file, cfg, exp.prompt);
    // Both sides are float64 on the same dequantized weights: they agree far inside the hint.
    double err = rel_l2(exp.logits, logits);
    MESSAGE(name << ": relative L2 of expected vs reference logits " << err);
    CHECK(err < 1e-5);
    auto greedy = reference_greedy(file, cfg, exp.prompt, static_cast<int>(exp.greedy.size()));
    CHECK(greedy == exp.greedy);
  }
}
