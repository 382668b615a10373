// The vkmoe command line, run as a user would: devices, run on the demo model, tokenize, eval,
// inspect, and clear errors for bad input.
#include <doctest/doctest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime/model/demo_model.h"
#include "tests/cli_util.h"

using namespace vkmoe;
using namespace vkmoe::test;

namespace {

using Result = CliResult;
Result run(const std::string& args, const std::string& input = "") { return run_vkmoe(args, input); }

}  // namespace

TEST_CASE("vkmoe devices --json lists a device with its capabilities, under validation") {
  auto r = run("devices --json");
  REQUIRE(r.status == 0);
  CHECK_FALSE(contains(r.out, "validation error"));
  auto j = nlohmann::json::parse(r.out);
  REQUIRE(j.size() >= 1);
  CHECK(j[0].contains("max_storage_buffer_range"));
  CHECK(j[0].contains("subgroup_size"));
}

TEST_CASE("vkmoe run generates text with the built-in demo model") {
  auto r = run("run -n 24 --seed 7 -p \"The router\"");
  INFO(r.out);
  REQUIRE(r.status == 0);
  CHECK(contains(r.out, "The router"));
  CHECK(contains(r.out, "decode:"));
  CHECK(contains(r.out, "tokens/s"));
  CHECK_FALSE(contains(r.out, "validation error"));
  // The same seed gives the same text.
  auto again = run("run -n 24 --seed 7 -p \"The router\" --quiet --expert-stats");
  CHECK(contains(again.out, "tokens per expert"));
  auto text = [](const std::string& s) { return s.substr(0, s.find("\nprefill:")); };
  again.out = again.out.substr(0, again.out.find("tokens per expert"));
  CHECK(text(again.out) == text(r.out.substr(r.out.find("The router"))));
}

TEST_CASE("the demo model is written deterministically") {
  CHECK(make_demo_model() == make_demo_model());
}

TEST_CASE("vkmoe chat answers on piped input and stops at the end of its turn") {
  auto r = run("chat --seed 3 -n 40 --quiet", "Hello!\\nWho are you?\\n/exit\\n");
  INFO(r.out);
  REQUIRE(r.status == 0);
  CHECK(contains(r.out, "decode:"));
}

TEST_CASE("vkmoe tokenize and eval agree with the shared files") {
  auto dir = shared_dir();
  if (dir.empty()) {
    MESSAGE("../shared not present: skipped");
    return;
  }
  auto r = run("tokenize -m " + (dir / "tokenizer/ggml-vocab-qwen3.gguf").string() + " \"Hello world\"");
  CHECK(r.status == 0);
  CHECK(r.out == "9707 1879\n");

  auto model = dir / "models/qwen3moe-tiny-f32.gguf";
  auto out = std::filesystem::temp_directory_path() / ("vkmoe_eval_" + std::to_string(seed()) + ".f32");
  r = run("eval -m " + model.string() + " --tokens 1,100,200,300,42,7,250,511,64,3 --out " + out.string());
  INFO(r.out);
  REQUIRE(r.status == 0);
  std::vector<float> got(10 * 512), want(10 * 512);
  std::ifstream(out, std::ios::binary).read(reinterpret_cast<char*>(got.data()), got.size() * 4);
  std::ifstream(dir / "models/qwen3moe-tiny-f32.logits.f32", std::ios::binary).read(reinterpret_cast<char*>(want.data()), want.size() * 4);
  std::filesystem::remove(out);
  CHECK(rel_l2(got, want) < 1e-3);

  r = run("inspect --json " + model.string());
  REQUIRE(r.status == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["architecture"] == "qwen3moe");
  CHECK(j["active_bytes_per_token"].get<uint64_t>() < j["bytes"].get<uint64_t>());
}

TEST_CASE("bad input gets a clear error, not a crash") {
  auto bad = std::filesystem::temp_directory_path() / ("vkmoe_bad_" + std::to_string(seed()) + ".gguf");
  std::ofstream(bad) << "this is not a gguf file";
  auto r = run("run -m " + bad.string() + " -n 4");
  std::filesystem::remove(bad);
  CHECK(WEXITSTATUS(r.status) == 1);
  CHECK(contains(r.out, bad.string()));
  r = run("run -m /no/such/model.gguf");
  CHECK(WEXITSTATUS(r.status) == 1);
  CHECK(contains(r.out, "/no/such/model.gguf"));
  r = run("run --top-k lots");
  CHECK(WEXITSTATUS(r.status) == 1);
  CHECK(contains(r.out, "--top-k: 'lots' is not an integer"));
  r = run("frobnicate");
  CHECK(WEXITSTATUS(r.status) == 1);
  CHECK(contains(r.out, "unknown command"));
}
