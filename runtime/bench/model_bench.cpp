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

// Runs one test: the depth filled once (untimed; tests write only at positions >= depth), one
// warm-up run (llama-bench's: the whole prompt, or one generated token), then the timed runs.
void run_test(Model& m, ModelBenchTest& t, int repeats, std::mt19937& rng, const Progress& progress) {
  const uint32_t vocab = m.config().n_vocab;
  if (t.n_depth) m.forward(random_tokens(rng, t.n_depth, vocab), 0);
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
  for (int r = 0; r < repeats; ++r) {
    add_sample(t, once(t.n_gen) * 1e9);
    if (progress) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "  %s run %d/%d: %.2f t/s", t.name.c_str(), r + 1, repeats, t.samples_ts.back());
      progress(buf);
    }
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

}  // namespace

void peak_matvec_shape(uint32_t n_embd, uint64_t active_params, PeakOptions& po) {
  po.matvec_cols = std::max(16u, n_embd / 16 * 16);
  po.matvec_rows = static_cast<uint32_t>(std::clamp<uint64_t>(active_params / po.matvec_cols, 1, UINT32_MAX));
}

ModelBenchReport run_model_bench(const ModelBenchOptions& opt, const Progress& progress) {
  if (opt.repeats < 1) throw std::invalid_argument("-r must be >= 1");
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
  {
    // Its own context, so that none of its buffers (up to 3 x 256 MiB) stays reserved for the model.
    Context peak_ctx({.device = opt.device});
    r.device = peak_ctx.device().caps().name;
    if (progress) progress("bench peak on " + r.device + " (the limits decode is measured against)");
    PeakOptions po = opt.peak;
    po.repeats = opt.repeats;
    if (!po.matvec_rows) peak_matvec_shape(file_cfg.n_embd, stats.active_params, po);
    try {
      r.peak = run_peak(peak_ctx, po, progress);
    } catch (const std::exception& e) {
      // No timestamps, say: the speeds are still measured, without a roofline.
      if (progress) progress(std::string("bench peak failed, so no roofline: ") + e.what());
    }
  }

  if (progress) progress("loading " + path);
  Context ctx({.device = opt.device});
  ModelOptions mo{.n_ctx = n_ctx, .n_batch = opt.n_batch, .progress = false, .expert_stats = false};
  Model m(ctx, std::move(file), mo);
  const ModelConfig& cfg = m.config();
  r.model_type = model_type(m.file(), cfg, stats);
  r.model_size = stats.bytes;
  r.model_n_params = stats.params;
  r.active_bytes = stats.active_bytes;
  r.active_params = stats.active_params;
  r.n_batch = std::min(opt.n_batch, n_ctx);

  std::mt19937 rng(1234);
  for (auto& t : tests) {
    run_test(m, t, opt.repeats, rng, progress);
    if (!t.n_gen) continue;
    const double kv = kv_bytes_per_token(cfg, t.n_depth, t.n_gen);
    t.bytes_per_token = stats.active_bytes + kv;
    t.weights_per_token = stats.active_params + kv / 2;  // f16: one element per 2 bytes
    t.roof = roofline(r.peak.read_device_gbs.median * 1e9, r.peak.matvec_i8_wps.median, t.bytes_per_token,
                      t.weights_per_token, t.ts.median);
  }
  r.tests = std::move(tests);
  if (progress) progress("profiling one decode step");
  profile_decode(m, r);
  return r;
}

}  // namespace vkmoe
