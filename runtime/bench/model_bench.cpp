#include "runtime/bench/model_bench.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <stdexcept>

#include "runtime/gguf/gguf_reader.h"
#include "runtime/model/demo_model.h"
#include "runtime/model/model.h"
#include "runtime/model/model_stats.h"
#include "runtime/vk/context.h"
#include "runtime/vk/sequence.h"

namespace vkmoe {

namespace {

using Progress = std::function<void(const std::string&)>;
constexpr uint32_t kProfiledSteps = 3;  // decode steps averaged for the per-kernel split

// "qwen3moe 47.19M.A12.34M Q4_K": architecture, total.active parameters, the type holding the
// most bytes (llama-bench prints the file type; vkmoe does not map GGUF's file type enum).
std::string model_type(const GgufFile& f, const ModelConfig& cfg, const ModelStats& s) {
  std::map<std::string, uint64_t> by_type;
  for (const auto& t : f.tensors()) by_type[std::string(ggml_type_name(t.type))] += t.bytes;
  std::string main_type = "?";
  uint64_t most = 0;
  for (const auto& [name, bytes] : by_type)
    if (bytes > most) most = bytes, main_type = name;
  auto short_count = [](uint64_t n) {
    char buf[32];
    std::snprintf(buf, sizeof buf, n >= 1000000000ull ? "%.1fB" : "%.0fM", n >= 1000000000ull ? n / 1e9 : n / 1e6);
    return std::string(buf);
  };
  return cfg.arch_key + " " + short_count(s.params) + ".A" + short_count(s.active_params) + " " + main_type;
}

std::vector<int32_t> random_tokens(std::mt19937& rng, uint32_t n, uint32_t vocab) {
  std::uniform_int_distribution<int32_t> d(0, static_cast<int32_t>(vocab) - 1);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = d(rng);
  return t;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// A limit probe: the roofline's two rates measured now, in the model's own context, so that a
// decode run and the limit it is judged against see the same load (this host's CPU steal moves
// both by up to 2x within a minute). Memory: the probe's one buffer takes a VkDeviceMemory of its
// own, made here and returned to the driver on return, so nothing stays reserved beside the model
// while it decodes; it exists only between decode runs, sized to one token's work (the model's
// active bytes or weights, whichever is larger) and at most a quarter of what the model left of
// its heap's budget (256 MiB at most). On an 8 GiB GPU the model is placed first and keeps its
// memory; a probe that finds no room fails alone (no limit for that run), the speeds still stand.
LimitSample probe_limits(Context& ctx, const LimitProbeShape& s, int runs, std::string& note) {
  LimitSample out;
  try {
    if (!ctx.device().features().timestamps)
      throw std::runtime_error(ctx.device().caps().name + " has no timestamp queries: GPU times cannot be measured");
    // An allocator of its own, one block of the probe's size: its memory goes back to the driver
    // when the probe ends (the context's allocator keeps its blocks once made).
    Allocator own(ctx.device(), s.buffer_bytes);
    const Buffer b = own.create_buffer(s.buffer_bytes, MemoryUse::device, "bench model limit probe");
    Sequence fill(ctx.device());
    fill.fill(b.range(0, s.x_offset), 0x02020202u);            // int8 weights of 2/127: the sums stay finite
    fill.fill(b.range(s.x_offset, s.cols * 4ull), 0x3f800000u);  // x = 1.0f
    fill.run();
    out.read_bytes_per_s = read_rate(ctx, b.range(0, s.read_bytes), runs).median * 1e9;
    out.int8_weights_per_s = int8_matvec_rate(ctx, s.rows, s.cols, b.range(0, matvec_weight_bytes(true, s.rows, s.cols)),
                                              b.range(s.x_offset, s.cols * 4ull), b.range(s.y_offset, s.rows * 4ull), runs)
                                 .median;
  } catch (const std::exception& e) {
    note = e.what();
  }
  return out;
}

// What the probe may take: bench peak's sizing (maxStorageBufferRange, maxMemoryAllocationSize,
// 256 MiB, a quarter of the budget) against the budget the model left in its device-local heap.
uint64_t probe_cap(Context& ctx, uint64_t max_bytes) {
  const auto& caps = ctx.device().caps();
  const uint32_t heap = caps.memory_types[ctx.allocator().memory_type_for(MemoryUse::device, ~0u)].heap;
  uint64_t reserved = 0;
  for (const auto& b : ctx.allocator().stats().blocks)
    if (caps.memory_types[b.memory_type].heap == heap) reserved += b.size;
  const uint64_t budget = caps.heaps[heap].budget ? caps.heaps[heap].budget : caps.heaps[heap].size;
  return peak_buffer_bytes(caps.max_storage_buffer_range, caps.max_memory_allocation_size,
                           budget > reserved ? budget - reserved : 0, max_bytes);
}

struct Probe {
  Context& ctx;
  LimitProbeShape shape;
  int runs = 3;
  std::string note;  // the last failure
  LimitSample operator()() { return probe_limits(ctx, shape, runs, note); }
};

// Runs one test: the depth filled once (untimed; tests write only at positions >= depth), one
// warm-up run (llama-bench's: the whole prompt, or one generated token), then the timed runs;
// decode tests with a limit probe before each timed run and after the last.
void run_test(Model& m, ModelBenchTest& t, int repeats, std::mt19937& rng, Probe& probe, const Progress& progress) {
  const uint32_t vocab = m.config().n_vocab;
  auto say = [&](const std::string& line) {
    if (progress) progress("  " + t.name + ": " + line);
  };
  say(std::to_string(repeats) + " timed runs after one warm-up" + (t.n_gen ? ", each between two limit probes" : ""));
  if (t.n_depth) {
    say("filling " + std::to_string(t.n_depth) + " tokens of KV cache (untimed)");
    m.forward(random_tokens(rng, t.n_depth, vocab), 0);
  }
  auto once = [&](uint32_t gen) {
    const auto t0 = std::chrono::steady_clock::now();
    if (t.n_prompt) m.forward(random_tokens(rng, t.n_prompt, vocab), t.n_depth);
    for (uint32_t i = 0; i < gen; ++i) {
      const int32_t tok = random_tokens(rng, 1, vocab)[0];
      m.forward(std::span<const int32_t>(&tok, 1), t.n_depth + i);
    }
    return seconds_since(t0);
  };
  once(std::min(t.n_gen, 1u));
  if (t.n_gen) t.probes.push_back(probe());
  char buf[200];
  for (int r = 0; r < repeats; ++r) {
    add_sample(t, once(t.n_gen) * 1e9);
    int n = std::snprintf(buf, sizeof buf, "run %d/%d: %.2f t/s", r + 1, repeats, t.samples_ts.back());
    if (t.n_gen) {
      t.probes.push_back(probe());
      pair_limits(t);
      const Roofline& p = t.paired.back();
      if (!p.bound.empty())
        std::snprintf(buf + n, sizeof buf - n, ", limit %.2f t/s (%s) beside it: %.1f%%", p.limit_ts, p.bound.c_str(), p.percent);
      else std::snprintf(buf + n, sizeof buf - n, ", no limit beside it: %s", probe.note.c_str());
    }
    say(buf);
  }
  if (t.n_gen) t.dispatches_per_token = m.last_dispatches();
}

// One decode step's GPU time per kernel: kProfiledSteps steps with timestamps around every
// dispatch, averaged (separately from the timed tests, which run without them).
void profile_decode(Model& m, ModelBenchReport& r) {
  m.set_profile(true);
  const int32_t tok = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (uint32_t i = 0; i < kProfiledSteps; ++i) m.forward(std::span<const int32_t>(&tok, 1), i);
  r.decode_step_wall_ms = seconds_since(t0) * 1e3 / kProfiledSteps;
  r.decode_dispatches = m.last_dispatches();
  for (const auto& k : m.profile_rows()) r.decode_kernels.push_back({k.kernel, k.calls / kProfiledSteps, k.ms / kProfiledSteps});
  m.set_profile(false);
}

// The probes of every decode test, as the report's bench peak figures (the rest is not measured).
void summarize_probes(const Probe& probe, ModelBenchReport& r) {
  std::vector<double> reads, i8s;
  for (const auto& t : r.tests)
    for (const auto& p : t.probes) {
      if (p.read_bytes_per_s > 0) reads.push_back(p.read_bytes_per_s / 1e9);
      if (p.int8_weights_per_s > 0) i8s.push_back(p.int8_weights_per_s);
    }
  r.peak.device = r.device;
  r.peak.date = r.date;
  r.peak.repeats = probe.runs;
  r.peak.read_bytes = probe.shape.read_bytes;
  r.peak.i8_rows = probe.shape.rows;
  r.peak.i8_cols = probe.shape.cols;
  r.peak.read_device_gbs = measure_of(reads);
  r.peak.matvec_i8_wps = measure_of(i8s);
  r.peak.read_device_gbs.note = r.peak.matvec_i8_wps.note = probe.note;
}

}  // namespace

ModelBenchReport run_model_bench(const ModelBenchOptions& opt, const Progress& progress) {
  if (opt.repeats < 1) throw std::invalid_argument("-r must be >= 1");
  if (opt.probe_runs < 1) throw std::invalid_argument("bench model: probe_runs must be >= 1");
  auto tests = plan_tests(opt);
  if (tests.empty()) throw std::invalid_argument("no tests: give -p and/or -n values above 0");
  uint32_t n_ctx = kProfiledSteps + 1;
  for (const auto& t : tests) n_ctx = std::max(n_ctx, t.n_depth + std::max(t.n_prompt, t.n_gen));

  ModelBenchReport r;
  const std::string path = opt.model_path.empty() ? demo_model_path(false).string() : opt.model_path;
  auto file = GgufFile::open(path);  // a bad file is reported before minutes of measuring
  const ModelConfig file_cfg = load_model_config(file);
  const ModelStats stats = model_stats(file, file_cfg);
  r.model_filename = std::filesystem::path(path).filename().string();
  r.date = today_utc();

  if (progress) progress("loading " + path);
  Context ctx({.device = opt.device});
  // The loader's progress bar shows on a terminal (stderr), as bench model's own progress lines.
  ModelOptions mo{.n_ctx = n_ctx, .n_batch = opt.n_batch, .progress = true, .expert_stats = false};
  Model m(ctx, std::move(file), mo);
  const ModelConfig& cfg = m.config();
  r.model_type = model_type(m.file(), cfg, stats);
  r.model_size = stats.bytes;
  r.model_n_params = stats.params;
  r.active_bytes = stats.active_bytes;
  r.active_params = stats.active_params;
  r.n_batch = std::min(opt.n_batch, n_ctx);
  r.device = ctx.device().caps().name;

  // The probe is sized once the model holds its memory (probe_cap reads what it left).
  Probe probe{ctx, limit_probe_shape(cfg.n_embd, stats.active_bytes, stats.active_params, probe_cap(ctx, opt.probe_max_bytes)),
              opt.probe_runs};
  if (progress && std::any_of(tests.begin(), tests.end(), [](const ModelBenchTest& t) { return t.n_gen > 0; }))
    progress("limit probe beside each decode run: read of " + format_bytes(probe.shape.read_bytes) + ", plain int8 matvec " +
             std::to_string(probe.shape.rows) + " x " + std::to_string(probe.shape.cols) + ", " +
             std::to_string(opt.probe_runs) + " timed runs each, in a block of its own (" +
             format_bytes(probe.shape.buffer_bytes) + ")");
  std::mt19937 rng(1234);
  for (auto& t : tests) {
    if (t.n_gen) {
      const double kv = kv_bytes_per_token(cfg, t.n_depth, t.n_gen);
      t.bytes_per_token = stats.active_bytes + kv;
      t.weights_per_token = stats.active_params + kv / 2;  // f16: one element per 2 bytes
    }
    run_test(m, t, opt.repeats, rng, probe, progress);
    if (progress && t.percent.ok()) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "  %s: %.1f%% of its limit, median of %d paired runs [%.1f, %.1f]", t.name.c_str(),
                    t.percent.median, t.percent.samples, t.percent.min, t.percent.max);
      progress(buf);
    }
  }
  r.tests = std::move(tests);
  summarize_probes(probe, r);
  if (progress) progress("profiling one decode step");
  profile_decode(m, r);
  return r;
}

}  // namespace vkmoe
