// `vkmoe bench kernels`: the router and the expert kernels at real MoE layer shapes, timed
// with GPU timestamps (median of repeats), with the bytes each case must read and the share of
// the device's read bandwidth, measured in the same run, that it reaches; and the token counts
// at which the batched MoE path and the tiled dense matmul overtake their decode paths.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/bench/peak.h"
#include "runtime/quant/ggml_type.h"

namespace vkmoe {

class Context;

struct BenchShape {
  std::string model;
  uint32_t hidden, ffn, experts, k;
  uint32_t shared_ffn;  // total width of the shared experts (0 = none)
};

struct KernelBenchOptions {
  bool quick = false;      // smaller shapes and token counts, under a minute on lavapipe
  int repeats = 0;         // timed runs per case; 0 = 3 with quick, 5 without
  bool layers = true;      // the per-model layer table
  bool crossover = true;   // decode vs batched (MoE) and vec vs tiled (dense matmul)
  std::string model;       // only shapes whose name contains this (empty = all)
  std::vector<GgmlType> types;  // the layer table's weight types (empty = Q4_K, Q8_0, F16)
  bool rates = false;      // only the per-kernel weight rates (--rates), no layers, crossovers or peak
};

// "q4_K,iq4_xs" (names as llama.cpp prints them, any case), "new" (the types of issue 11) or
// "all" (every type the kernels take) -> types; throws naming an unknown or unsupported name.
std::vector<GgmlType> parse_bench_types(const std::string& list);

struct KernelBenchResult {
  std::string model, type, note;
  uint32_t hidden = 0, ffn = 0, experts = 0, k = 0, tokens = 0;
  double router_ms = 0, experts_ms = 0, total_ms = 0;  // medians over repeats
  uint64_t bytes = 0;        // bytes the layer must read: router, chosen experts, shared experts
  uint32_t experts_touched = 0;
  uint32_t dispatches = 0;
  double gb_per_s = 0;
  double percent_of_bandwidth = 0;
  uint64_t weights = 0;        // weights among `bytes` (router, distinct chosen experts, shared)
  double weights_per_s = 0;
  double times_plain_f32 = 0;  // weights_per_s / bench peak's plain F32 matvec rate (same run)
  bool skipped = false;
};

// Two paths of one operation timed at the same token counts (medians, ms).
struct CrossoverPoint {
  uint32_t tokens = 0;
  double small_ms = 0;  // the few-token path (MoE decode, dense vec)
  double large_ms = 0;  // the many-token path (MoE batched, dense tiled)
};

struct CrossoverResult {
  std::string name;        // "moe" or "matmul"
  std::string shape;       // what was timed
  std::string small_path, large_path;
  std::vector<CrossoverPoint> points;
  // The smallest measured token count from which the large path is faster at every measured
  // count; 0 when it never is (the crossover lies past the last count).
  uint32_t crossover = 0;
  double slots_per_expert = 0;  // MoE: crossover * k / experts, what the crossover scales with
  std::string setting;     // how the runtime takes the value
};

// `bench kernels --rates`: one decode kernel (dense matvec, MoE gate/up, MoE down) of one weight
// type at the speed issue's reference shape (512 wide, 32 experts of 512, top-4) and T tokens.
struct KernelRate {
  std::string kernel, type;
  uint32_t tokens = 0;
  double ms = 0;               // median cost of one dispatch (CPU devices: CPU time; else GPU time)
  uint64_t weights = 0;        // weights one token multiplies in that dispatch
  double weights_per_s = 0;    // tokens * weights / ms: at T = 1 the weight rate
  double plain_f32_wps = 0;    // the plain F32 matvec at 512 x 512, in the same runs
  double plain_i8_wps = 0;     // the plain packed-int8 matvec likewise
  double times_plain_f32 = 0;  // median over runs of weights_per_s / plain_f32_wps
  double ratio_min = 0, ratio_max = 0;
};

struct KernelBenchReport {
  std::string device, date;
  PeakResult peak;                // bench peak, measured in the same run
  double bandwidth_gb_per_s = 0;  // peak.read_device_gbs.median
  bool quick = false;
  int repeats = 0;
  std::string shapes_note;
  std::vector<KernelBenchResult> results;
  std::vector<CrossoverResult> crossovers;
  std::vector<KernelRate> rates;  // --rates
};

std::vector<BenchShape> bench_shapes(bool quick);
KernelBenchReport run_kernel_bench(Context& ctx, const KernelBenchOptions& opt,
                                   const std::function<void(const std::string&)>& progress = {});

std::string kernel_bench_table(const KernelBenchReport& r);
std::string kernel_bench_json(const KernelBenchReport& r);

}  // namespace vkmoe
