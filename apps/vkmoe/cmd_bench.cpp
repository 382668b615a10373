// vkmoe bench kernels | peak | model: benchmarks, not tests (runtime/bench/).
#include <cstdio>
#include <sstream>

#include "runtime/service/args.h"
#include "apps/vkmoe/commands.h"
#include "runtime/bench/kernel_bench.h"
#include "runtime/bench/model_bench.h"
#include "runtime/bench/peak.h"
#include "runtime/vk/context.h"

namespace vkmoe {

namespace {

constexpr const char* kUsage =
    "usage: vkmoe bench kernels [--quick] [--crossover] [--model NAME] [--types LIST] [--json] [--repeats N] [--device N|NAME]\n"
    "         the MoE layer kernels at real model shapes (--quick: under a minute on lavapipe);\n"
    "         --types q4_K,iq4_xs,... | new | all: the layer table for these weight types only\n"
    "         (default q4_K,q8_0,f16, then the crossovers)\n"
    "       vkmoe bench kernels --rates [--types LIST] [--repeats N]\n"
    "         weights/s of the decode matvec and MoE pair per type at 1, 2, 4, 8 tokens, reference shape,\n"
    "         against a plain F32 matvec of the same shape\n"
    "       vkmoe bench peak [--json] [--repeats N] [--matvec ROWSxCOLS] [--device N|NAME]\n"
    "         bandwidth, plain matvec weight rates (at a fixed shape with --matvec), FMA and dot rates,\n"
    "         dispatch and submit costs\n"
    "       vkmoe bench model [-m FILE] [-p 512] [-n 128] [-d 0] [-r 5] [-b 512] [-o md|json|jsonl|csv] [--device N|NAME]\n"
    "         llama-bench's tests (pp, tg, @ depth; comma lists allowed), with decode against its roofline limit\n";

void print_progress(bool on, const std::string& line) {
  if (on) std::fprintf(stderr, "%s\n", line.c_str());
}

int bench_kernels(const Args& args) {
  Context ctx({.device = args.get("--device")});
  const bool crossover_only = args.has("--crossover");
  KernelBenchOptions opt{.quick = args.has("--quick"),
                         .repeats = static_cast<int>(args.get_int("--repeats", 0)),
                         .layers = !crossover_only,
                         .crossover = !args.has("--types"),  // the crossovers time Q4_K only
                         .model = args.get("--model")};
  if (args.has("--types")) opt.types = parse_bench_types(args.get("--types"));
  opt.rates = args.has("--rates");
  if (opt.rates && args.has("--json")) throw std::invalid_argument("--rates prints a table only (no --json)");
  const bool json = args.has("--json");
  print_progress(!json, "benchmarking on " + ctx.device().caps().name + "...");
  auto report = run_kernel_bench(ctx, opt, [&](const std::string& line) { print_progress(!json, line); });
  std::printf("%s\n", json ? kernel_bench_json(report).c_str() : kernel_bench_table(report).c_str());
  return 0;
}

int bench_peak(const Args& args) {
  Context ctx({.device = args.get("--device")});
  const int repeats = static_cast<int>(args.get_int("--repeats", 5));
  if (repeats < 1 || repeats > 1000) throw std::invalid_argument("--repeats must be 1..1000");
  PeakOptions opt{.repeats = repeats};
  if (args.has("--matvec")) {
    const std::string shape = args.get("--matvec");
    unsigned rows = 0, cols = 0;
    char end = 0;
    if (std::sscanf(shape.c_str(), "%ux%u%c", &rows, &cols, &end) != 2 || rows == 0 || cols == 0 || cols % 16)
      throw std::invalid_argument("--matvec: '" + shape + "' is not ROWSxCOLS with COLS a multiple of 16, e.g. 512x512");
    opt.matvec_rows = rows;
    opt.matvec_cols = cols;
  }
  const bool json = args.has("--json");
  print_progress(!json, "bench peak on " + ctx.device().caps().name + "...");
  auto r = run_peak(ctx, opt, [&](const std::string& line) { print_progress(!json, line); });
  std::printf("%s\n", json ? peak_json(r).c_str() : peak_table(r).c_str());
  return 0;
}

// "64,512" -> {64, 512}; every item a whole number in [0, 1 << 20].
std::vector<uint32_t> parse_list(const Args& args, const std::string& flag, uint32_t def) {
  if (!args.has(flag)) return {def};
  std::vector<uint32_t> out;
  std::stringstream ss(args.get(flag));
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
    }
    if (used != item.size() || item.empty() || v < 0 || v > (1 << 20))
      throw std::invalid_argument(flag + ": '" + item + "' is not a count from 0 to 1048576");
    out.push_back(static_cast<uint32_t>(v));
  }
  if (out.empty()) throw std::invalid_argument(flag + " needs a value, e.g. " + flag + " 64,512");
  return out;
}

int bench_model(const Args& args) {
  ModelBenchOptions opt;
  opt.model_path = args.get("-m", args.get("--model"));
  opt.device = args.get("--device");
  opt.n_prompt = parse_list(args, "-p", 512);
  opt.n_gen = parse_list(args, "-n", 128);
  opt.n_depth = parse_list(args, "-d", 0);
  opt.repeats = static_cast<int>(args.get_int("-r", 5));
  if (opt.repeats < 1 || opt.repeats > 1000) throw std::invalid_argument("-r must be 1..1000");
  const int64_t batch = args.get_int("-b", args.get_int("--batch", 512));
  if (batch < 1 || batch > (1 << 16)) throw std::invalid_argument("-b must be 1..65536");
  opt.n_batch = static_cast<uint32_t>(batch);
  const std::string fmt = args.get("-o", "md");
  if (fmt != "md" && fmt != "json" && fmt != "jsonl" && fmt != "csv")
    throw std::invalid_argument("-o must be md, json, jsonl or csv, not '" + fmt + "'");
  auto r = run_model_bench(opt, [](const std::string& line) { print_progress(true, line); });
  const std::string out = fmt == "json"    ? model_bench_json(r) + "\n"
                          : fmt == "jsonl" ? model_bench_jsonl(r)
                          : fmt == "csv"   ? model_bench_csv(r)
                                           : model_bench_markdown(r);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace

int cmd_bench(const std::vector<std::string>& argv) {
  Args args(argv, {"--device", "--repeats", "--matvec", "--model", "--types", "-m", "-p", "-n", "-d", "-r", "-b", "--batch", "-o"},
            {"--json", "--quick", "--crossover", "--rates"});
  const std::string what = args.positional().size() == 1 ? args.positional()[0] : "";
  if (what == "kernels") return bench_kernels(args);
  if (what == "peak") return bench_peak(args);
  if (what == "model") return bench_model(args);
  throw std::invalid_argument(kUsage);
}

}  // namespace vkmoe
