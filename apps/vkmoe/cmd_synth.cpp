// vkmoe synth: writes a synthetic model (random weights, real tokenizer) of a named shape, so
// benchmarks and experiments have reproducible files without downloads.
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "runtime/arch/registry.h"
#include "runtime/service/args.h"
#include "apps/vkmoe/commands.h"
#include "runtime/model/synthetic_model.h"

namespace vkmoe {
namespace {

// The reference shape of the speed issue: qwen3moe, 4 layers, 512 wide, 8 query / 4 KV heads
// of 64, 32 experts of 512, top-4, vocabulary 600, Q4_K matrices (about 56 MiB).
SyntheticSpec bench_spec() {
  SyntheticSpec s;
  s.name = "vkmoe-bench-qwen3moe-4x512";
  s.n_embd = 512;
  s.n_layer = 4;
  s.n_head = 8;
  s.n_head_kv = 4;
  s.head_dim = 64;
  s.n_expert = 32;
  s.n_expert_used = 4;
  s.n_ff_exp = 512;
  s.n_vocab = 600;
  s.matrix_type = GgmlType::Q4_K;
  return s;
}

GgmlType parse_type(const std::string& name) {
  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_K,
                     GgmlType::Q5_K, GgmlType::Q6_K})
    if (ggml_type_name(t) == name) return t;
  throw std::invalid_argument("--type: unknown or unsupported type '" + name + "'");
}

// --arch: the reference shape with another architecture's blocks (its tensors and flags; its
// dense FFNs n_embd wide), for the fusion and dispatch work of issue 8 (docs/performance.md).
// deepseek2-v3 and grok2 are forms of deepseek2 and grok; any registered architecture works.
void set_arch(SyntheticSpec& s, const std::string& name) {
  s.n_ff = s.n_embd;
  if (name == "deepseek2-v3") {
    s = deepseek_v3_form(s);
  } else {
    const ArchInfo* info = find_arch(name == "grok2" ? "grok" : name);
    if (!info)
      throw std::invalid_argument("--arch: '" + name + "' is not one of " + supported_architectures() +
                                  ", deepseek2-v3, grok2");
    s.arch = info->arch;
    s.grok2 = name == "grok2";
  }
  if (name != "qwen3moe") s.name = "vkmoe-bench-" + name + "-4x512";
}

}  // namespace

int cmd_synth(const std::vector<std::string>& argv) {
  Args args(argv, {"-o", "--preset", "--type", "--layers", "--seed", "--arch"}, {"--force"});
  const std::string out = args.get("-o");
  if (out.empty()) throw std::invalid_argument("-o FILE is required");
  if (args.get("--preset", "bench") != "bench") throw std::invalid_argument("--preset: only 'bench' exists");
  if (std::filesystem::exists(out) && !args.has("--force"))
    throw std::invalid_argument("'" + out + "' exists; pass --force to replace it");
  SyntheticSpec spec = bench_spec();
  set_arch(spec, args.get("--arch", "qwen3moe"));
  if (args.has("--type")) spec.matrix_type = parse_type(args.get("--type"));
  spec.n_layer = static_cast<uint32_t>(args.get_int("--layers", spec.n_layer, 1, 256));
  spec.seed = static_cast<uint64_t>(args.get_int("--seed", 1, 0, INT64_MAX));
  make_synthetic_model(spec).write(out);
  std::printf("wrote %s (%s, %u layers, %s)\n", out.c_str(), spec.name.c_str(), spec.n_layer,
              std::string(ggml_type_name(spec.matrix_type)).c_str());
  return 0;
}

}  // namespace vkmoe
