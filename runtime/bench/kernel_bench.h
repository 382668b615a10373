// `vkmoe bench kernels`: the router and the expert kernels at real MoE layer shapes, timed
// with GPU timestamps (median of repeats), with the bytes each case must read and the share of
// the device's read bandwidth, measured in the same run, that it reaches.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/quant/ggml_type.h"

namespace vkmoe {

class Context;

struct BenchShape {
  std::string model;
  uint32_t hidden, ffn, experts, k;
  uint32_t shared_ffn;  // total width of the shared experts (0 = none)
};

struct KernelBenchOptions {
  bool quick = false;  // smaller shapes and token counts, under a minute on lavapipe
  int repeats = 5;
};

struct KernelBenchResult {
  std::string model, type, note;
  uint32_t hidden = 0, ffn = 0, experts = 0, k = 0, tokens = 0;
  double router_ms = 0, experts_ms = 0, total_ms = 0;  // medians over repeats
  uint64_t bytes = 0;        // bytes the layer must read: router, chosen experts, shared experts
  uint32_t experts_touched = 0;
  uint32_t dispatches = 0;
  double gb_per_s = 0;
  double percent_of_bandwidth = 0;
  bool skipped = false;
};

struct KernelBenchReport {
  std::string device;
  double bandwidth_gb_per_s = 0;  // measured read bandwidth (reduction over a large buffer)
  bool quick = false;
  std::string shapes_note;
  std::vector<KernelBenchResult> results;
};

std::vector<BenchShape> bench_shapes(bool quick);
KernelBenchReport run_kernel_bench(Context& ctx, const KernelBenchOptions& opt,
                                   const std::function<void(const KernelBenchResult&)>& on_result = {});
double measure_read_bandwidth(Context& ctx, int repeats, uint64_t* bytes_used = nullptr);

std::string kernel_bench_table(const KernelBenchReport& r);
std::string kernel_bench_json(const KernelBenchReport& r);

}  // namespace vkmoe
