// vkmoe bench kernels: a benchmark, not a test (see runtime/bench/kernel_bench.h).
#include <cstdio>

#include "apps/vkmoe/args.h"
#include "apps/vkmoe/commands.h"
#include "runtime/bench/kernel_bench.h"
#include "runtime/vk/context.h"

namespace vkmoe {

int cmd_bench(const std::vector<std::string>& argv) {
  Args args(argv, {"--device", "--repeats"}, {"--json", "--quick"});
  if (args.positional().size() != 1 || args.positional()[0] != "kernels")
    throw std::invalid_argument("usage: vkmoe bench kernels [--quick] [--json] [--repeats N] [--device N|NAME]");
  Context ctx({.device = args.get("--device")});
  KernelBenchOptions opt{.quick = args.has("--quick"), .repeats = static_cast<int>(args.get_int("--repeats", 5))};
  const bool json = args.has("--json");
  if (!json) std::fprintf(stderr, "benchmarking on %s...\n", ctx.device().caps().name.c_str());
  auto report = run_kernel_bench(ctx, opt, [&](const KernelBenchResult& r) {
    if (!json) std::fprintf(stderr, "  %s %s %u tokens: %.3f ms\n", r.model.c_str(), r.type.c_str(), r.tokens, r.total_ms);
  });
  std::printf("%s\n", json ? kernel_bench_json(report).c_str() : kernel_bench_table(report).c_str());
  return 0;
}

}  // namespace vkmoe
