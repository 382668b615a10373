// vkmoe bench kernels: a benchmark, not a test (see runtime/bench/kernel_bench.h).
#include <cstdio>

#include "apps/vkmoe/args.h"
#include "apps/vkmoe/commands.h"
#include "runtime/bench/kernel_bench.h"
#include "runtime/vk/context.h"

namespace vkmoe {

int cmd_bench(const std::vector<std::string>& argv) {
  Args args(argv, {"--device", "--repeats", "--model"}, {"--json", "--quick", "--crossover"});
  if (args.positional().size() != 1 || args.positional()[0] != "kernels")
    throw std::invalid_argument(
        "usage: vkmoe bench kernels [--quick] [--crossover] [--model NAME] [--json] [--repeats N] [--device N|NAME]\n"
        "  --quick      smaller shapes and token counts (under a minute on lavapipe)\n"
        "  --crossover  only the decode/batched and vec/tiled crossover section\n"
        "  --model      only the layer shapes whose name contains NAME");
  Context ctx({.device = args.get("--device")});
  const bool crossover_only = args.has("--crossover");
  KernelBenchOptions opt{.quick = args.has("--quick"),
                         .repeats = static_cast<int>(args.get_int("--repeats", 0)),
                         .layers = !crossover_only,
                         .crossover = true,
                         .model = args.get("--model")};
  const bool json = args.has("--json");
  if (!json) std::fprintf(stderr, "benchmarking on %s...\n", ctx.device().caps().name.c_str());
  auto report = run_kernel_bench(ctx, opt, [&](const std::string& line) {
    if (!json) std::fprintf(stderr, "%s\n", line.c_str());
  });
  std::printf("%s\n", json ? kernel_bench_json(report).c_str() : kernel_bench_table(report).c_str());
  return 0;
}

}  // namespace vkmoe
