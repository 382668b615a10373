// `vkmoe bench model`: prefill and decode speed of a whole model, in llama-bench's terms (tests
// pp512, tg128, "tg128 @ d4096"; its markdown table and JSON fields), plus vkmoe's own columns:
// decode as a percent of its roofline limit, measured beside every timed decode run (a short
// limit probe before each run and after the last, in the model's own context), dispatches per
// decode token, and the GPU time of one decode step split by kernel.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/bench/peak.h"

namespace vkmoe {

struct ModelConfig;

struct ModelBenchOptions {
  std::string model_path;                // empty: the built-in demo model
  std::string device;                    // --device
  std::vector<uint32_t> n_prompt{512};   // -p: one pp test per value (0: none)
  std::vector<uint32_t> n_gen{128};      // -n: one tg test per value (0: none)
  std::vector<uint32_t> n_depth{0};      // -d: tokens already in the KV cache
  int repeats = 5;                       // -r
  uint32_t n_batch = 512;                // -b: prefill batch
  int probe_runs = 3;                    // timed runs per limit probe figure (after one warm-up)
  uint64_t probe_max_bytes = 0;          // cap on the limit probe's buffer (0: from the device; tests)
};

// The decode limit: the lower of what bandwidth allows (bytes read per token at the measured
// read bandwidth) and what compute allows (weights per token at the plain int8 matvec's rate).
struct Roofline {
  double bandwidth_ts = 0, compute_ts = 0, limit_ts = 0;
  std::string bound;  // "bandwidth", "compute", or "" when neither could be measured
  double percent = 0; // 100 * measured / limit
};
Roofline roofline(double read_bytes_per_s, double int8_weights_per_s, double bytes_per_token, double weights_per_token,
                  double measured_ts);

// bench model's limit probe, shaped like one decode token's work: the read covers the token's
// active bytes, the plain int8 matvec has rows of the model's width (rounded down to whole 16s),
// as many as the token's active weights, so both are as cache-resident as the model's (a small
// model's are); each span capped at `cap` bytes. One buffer holds it all: the read span and the
// weights share its start, then x and y at 256-byte aligned offsets (the largest
// minStorageBufferOffsetAlignment Vulkan allows).
struct LimitProbeShape {
  uint64_t read_bytes = 0;
  uint32_t rows = 0, cols = 0;
  uint64_t x_offset = 0, y_offset = 0, buffer_bytes = 0;
};
LimitProbeShape limit_probe_shape(uint32_t n_embd, uint64_t active_bytes, uint64_t active_params, uint64_t cap);

// One limit probe's two rates; 0 where the probe failed (no timestamps, no memory left, ...).
struct LimitSample {
  double read_bytes_per_s = 0, int8_weights_per_s = 0;
};

// KV-cache bytes and elements one decode token reads, averaged over a tg test of n_gen tokens
// starting at depth n_depth (the token at position p reads p + 1 rows of f16 K and V).
double kv_bytes_per_token(const ModelConfig& cfg, uint32_t n_depth, uint32_t n_gen);

struct ModelBenchTest {
  std::string name;  // "pp512", "tg128", "tg128 @ d4096"
  uint32_t n_prompt = 0, n_gen = 0, n_depth = 0;
  std::vector<double> samples_ns, samples_ts;
  double avg_ns = 0, stddev_ns = 0, avg_ts = 0, stddev_ts = 0;
  Measure ts;  // median, min and max of samples_ts
  // Decode tests only.
  uint32_t dispatches_per_token = 0;
  double bytes_per_token = 0, weights_per_token = 0;
  std::vector<LimitSample> probes;  // one before each timed run, one after the last
  std::vector<Roofline> paired;     // per timed run: its t/s against the limit measured beside it
  Measure percent;                  // median, min and max of the paired percents that have a limit
  Roofline roof;  // at the median rates of the pairs; its percent is percent.median
};
ModelBenchTest make_test(uint32_t n_prompt, uint32_t n_gen, uint32_t n_depth);
// Every depth x (each prompt size, then each generation size), as llama-bench orders them.
std::vector<ModelBenchTest> plan_tests(const ModelBenchOptions& opt);
// avg/stddev of ns and of tokens/s from samples_ns (sample standard deviation, as llama-bench),
// and the median with min and max.
void add_sample(ModelBenchTest& t, double ns);
// Pairs timed run i with probes i and i + 1 (the probes just before and after it): its rates are
// their mean (a failed probe left out; both failed: no limit for that run), its percent its t/s
// over the roofline at those rates. Fills t.paired (for every run with a probe after it),
// t.percent and t.roof from t.samples_ts, t.probes and the test's bytes and weights per token.
void pair_limits(ModelBenchTest& t);

struct KernelShare {
  std::string kernel;
  uint64_t calls = 0;
  double ms = 0;  // per decode step
};

struct ModelBenchReport {
  std::string device, date, model_filename, model_type, backend = "Vulkan";
  uint64_t model_size = 0, model_n_params = 0;
  uint64_t active_bytes = 0, active_params = 0;  // per decode token, from the file
  uint32_t n_batch = 0;
  // The limit probes' figures over the whole run (every probe of every decode test): read
  // bandwidth, int8 matvec rate and shape, read_bytes; the rest of bench peak is not measured.
  PeakResult peak;
  std::vector<ModelBenchTest> tests;
  std::vector<KernelShare> decode_kernels;  // one profiled decode step, largest first
  uint32_t decode_dispatches = 0;
  double decode_step_wall_ms = 0;  // wall time of those profiled steps: the rest is host and driver time
};

ModelBenchReport run_model_bench(const ModelBenchOptions& opt,
                                 const std::function<void(const std::string&)>& progress = {});

// Outputs: llama-bench's markdown table (+ vkmoe's columns and the decode split), a JSON array
// of one object per test, JSON lines, CSV with a header row.
std::string model_bench_markdown(const ModelBenchReport& r);
std::string model_bench_json(const ModelBenchReport& r);
std::string model_bench_jsonl(const ModelBenchReport& r);
std::string model_bench_csv(const ModelBenchReport& r);

}  // namespace vkmoe
