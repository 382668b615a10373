#include "runtime/bench/peak.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "runtime/vk/context.h"
#include "runtime/vk/sequence.h"
#include "shaders/bench_params.h"

namespace vkmoe {

namespace {

constexpr uint32_t kGroup = BENCH_WG;     // invocations per workgroup in every bench shader
constexpr uint32_t kMatvecCols = 4096;    // a typical hidden width
constexpr float kNever = 1.2345e-30f;     // a sum the bench kernels' inputs never produce
using Progress = std::function<void(const std::string&)>;

// GPU time of one recording, `repeats` times after one warm-up run (first use of a pipeline,
// cold caches). `record` records the same work into the sequence each time.
std::vector<double> span_samples(Context& ctx, int repeats, const std::function<void(Sequence&)>& record) {
  Sequence seq(ctx.device(), {.max_timed = 0, .span = true, .name = "bench peak"});
  std::vector<double> ms;
  for (int r = 0; r <= repeats; ++r) {
    record(seq);
    seq.run();
    if (r > 0) ms.push_back(seq.span_ms());
  }
  return ms;
}

// samples in ms -> a rate: amount / seconds.
Measure rate(const std::vector<double>& ms, double amount) {
  std::vector<double> v;
  for (double t : ms)
    if (t > 0) v.push_back(amount / (t * 1e-3));
  return measure_of(v);
}

uint32_t groups_for(const Device& dev, uint64_t items, uint64_t per_group) {
  const uint64_t g = std::max<uint64_t>(1, (items + per_group - 1) / per_group);
  return static_cast<uint32_t>(std::min<uint64_t>(g, dev.caps().max_workgroup_count[0]));
}

// Runs `fn`; a failure becomes the measure's note instead of ending the benchmark.
void guarded(Measure& m, const std::string& what, const Progress& progress, const std::function<Measure()>& fn) {
  try {
    m = fn();
  } catch (const std::exception& e) {
    m = Measure{};
    m.note = e.what();
  }
  if (progress) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.4g", m.median);
    progress("  " + what + ": " + (m.ok() ? std::string(buf) : "not measured: " + m.note));
  }
}

Buffer filled(Context& ctx, uint64_t bytes, MemoryUse use, uint32_t value, const char* name) {
  Buffer b = ctx.allocator().create_buffer(bytes, use, name);
  Sequence seq(ctx.device());
  seq.fill(b.range(), value);
  seq.run();
  return b;
}

Measure read_bandwidth(Context& ctx, const Buffer& src, int repeats) { return read_rate(ctx, src.range(), repeats); }

Measure copy_bandwidth(Context& ctx, const Buffer& src, const Buffer& dst, int repeats) {
  const uint64_t n = std::min(src.size(), dst.size());
  auto ms = span_samples(ctx, repeats, [&](Sequence& seq) { seq.copy(src.range(0, n), dst.range(0, n)); });
  return rate(ms, n / 1e9);
}


void check_matvec_shape(bool int8, uint32_t rows, uint32_t cols) {
  if (rows == 0 || cols == 0 || cols % (int8 ? 16 : 4))
    throw std::invalid_argument("plain matvec: " + std::to_string(rows) + " x " + std::to_string(cols) +
                                (int8 ? " (int8 needs cols a multiple of 16)" : " (F32 needs cols a multiple of 4)"));
}

Measure matvec_rate(Context& ctx, bool int8, const PeakOptions& opt, uint64_t bytes, uint32_t* rows_out,
                    uint32_t* cols_out, std::string* variant) {
  const uint32_t elem = int8 ? 1 : 4;
  uint32_t cols = static_cast<uint32_t>(std::clamp<uint64_t>(bytes / elem / 16 * 16, 16, kMatvecCols));
  uint32_t rows = static_cast<uint32_t>(std::max<uint64_t>(1, bytes / (uint64_t(cols) * elem)));
  if (opt.matvec_rows && opt.matvec_cols) {
    // A fixed shape, with no more rows than the buffer size allows (F32 takes 4x int8's bytes).
    cols = opt.matvec_cols;
    rows = static_cast<uint32_t>(std::clamp<uint64_t>(bytes / (uint64_t(cols) * elem), 1, opt.matvec_rows));
  }
  check_matvec_shape(int8, rows, cols);
  *rows_out = rows;
  *cols_out = cols;
  // Small weights (about 1/64 and 1/127 per element) keep the sums finite; values do not
  // change the speed.
  const Buffer w = filled(ctx, matvec_weight_bytes(int8, rows, cols), MemoryUse::device, int8 ? 0x02020202u : 0x3c800000u,
                          "bench matvec weights");
  const Buffer x = filled(ctx, cols * 4ull, MemoryUse::device, 0x3f800000u, "bench matvec x");
  const Buffer y = ctx.allocator().create_buffer(rows * 4ull, MemoryUse::device, "bench matvec y");
  auto ms =
      span_samples(ctx, opt.repeats, [&](Sequence& seq) { record_plain_matvec(ctx, int8, rows, cols, w, x, y, seq, "", variant); });
  return rate(ms, double(rows) * cols);
}

// Scales the workgroup count (then the iteration count) so one run takes about target_ms.
Measure arithmetic_rate(Context& ctx, const char* kernel, double target_ms, int repeats,
                        double (*count)(uint32_t, uint32_t)) {
  const Pipeline& pipe = ctx.pipelines().get({.kernel = kernel, .bindings = 1, .push_size = sizeof(BenchFmaParams)});
  const uint32_t max_groups = ctx.device().caps().max_workgroup_count[0];
  uint32_t groups = std::min(16u, max_groups);
  BenchFmaParams p{256, kNever};
  auto run = [&](int reps) {
    return span_samples(ctx, reps, [&](Sequence& seq) {
      seq.dispatch(pipe, {{ctx.sink().range(), Access::write}}, &p, groups);
    });
  };
  for (int step = 0; step < 4; ++step) {  // calibrate: a few short runs
    const double t = std::max(1e-3, median_of(run(1)));
    if (t >= 0.5 * target_ms) break;
    const double scale = std::min(64.0, target_ms / t);
    const double want = groups * scale;
    if (want <= max_groups) groups = static_cast<uint32_t>(want);
    else {
      p.iters = static_cast<uint32_t>(std::min(1e6, p.iters * want / max_groups));
      groups = max_groups;
    }
  }
  return rate(run(repeats), count(groups, p.iters));
}

// Empty dispatches per recording, with or without a barrier after each: GPU time per dispatch.
Measure dispatch_cost(Context& ctx, uint32_t n, bool with_barrier, int repeats) {
  const Pipeline& pipe = ctx.pipelines().get({.kernel = "bench_empty", .bindings = 1});
  auto ms = span_samples(ctx, repeats, [&](Sequence& seq) {
    for (uint32_t i = 0; i < n; ++i) {
      seq.dispatch(pipe, {{ctx.dummy().range(), Access::read}}, nullptr, 1);
      if (with_barrier) seq.barrier();
    }
  });
  std::vector<double> us;
  for (double t : ms) us.push_back(t * 1e3 / n);
  return measure_of(us);
}

Measure submit_wait_cost(Context& ctx, int repeats) {
  Sequence seq(ctx.device(), {.name = "bench submit"});
  std::vector<double> us;
  for (int r = 0; r <= repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    seq.run();
    const double t = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    if (r > 0) us.push_back(t);
  }
  return measure_of(us);
}

std::string int_dot_absent(Context& ctx) {
  bool built = false;
  for (const auto& v : shader_variants()) built = built || std::string_view(v.kernel) == "bench_int_dot";
  if (!built) return "not built: this glslc lacks GL_EXT_integer_dot_product";
  if (ctx.pipelines().supported_variants("bench_int_dot").empty())
    return ctx.device().caps().name + " has no shaderIntegerDotProduct";
  return "";
}

void measure_memory(Context& ctx, const PeakOptions& opt, PeakResult& r, const Progress& progress) {
  const auto& caps = ctx.device().caps();
  uint64_t budget = UINT64_MAX;
  for (const auto& h : caps.heaps) budget = std::min(budget, h.budget ? h.budget : h.size);
  r.read_bytes = r.copy_bytes =
      peak_buffer_bytes(caps.max_storage_buffer_range, caps.max_memory_allocation_size, budget, opt.max_bytes);
  Buffer dev = filled(ctx, r.read_bytes, MemoryUse::device, 0, "bench peak device");
  guarded(r.read_device_gbs, "read, device-local (GB/s)", progress, [&] { return read_bandwidth(ctx, dev, opt.repeats); });
  {
    Buffer dst = ctx.allocator().create_buffer(r.copy_bytes, MemoryUse::device, "bench peak copy");
    guarded(r.copy_device_gbs, "copy, device-local (GB/s)", progress, [&] { return copy_bandwidth(ctx, dev, dst, opt.repeats); });
    Buffer host;
    guarded(r.read_host_gbs, "read, host-visible (GB/s)", progress, [&] {
      host = filled(ctx, r.read_bytes, MemoryUse::spill, 0, "bench peak host");
      return read_bandwidth(ctx, host, opt.repeats);
    });
    guarded(r.copy_host_gbs, "copy, host -> device (GB/s)", progress, [&] {
      if (!host) throw std::runtime_error("no host-visible buffer: " + r.read_host_gbs.note);
      return copy_bandwidth(ctx, host, dst, opt.repeats);
    });
  }
}

}  // namespace

void record_plain_matvec(Context& ctx, bool int8, uint32_t rows, uint32_t cols, const BufferRange& w, const BufferRange& x,
                         const BufferRange& y, Sequence& seq, const std::string& variant, std::string* used) {
  if (w.size < matvec_weight_bytes(int8, rows, cols) || x.size < cols * 4ull || y.size < rows * 4ull)
    throw std::invalid_argument("plain matvec: ranges too small for " + std::to_string(rows) + " x " + std::to_string(cols));
  const Pipeline& pipe = ctx.pipelines().get({.kernel = int8 ? "bench_matvec_i8" : "bench_matvec_f32", .bindings = 3,
                                              .push_size = sizeof(BenchMatvecParams), .variant = variant});
  if (used) *used = pipe.variant;
  const BenchMatvecParams p{rows, int8 ? cols / 16 : cols / 4};
  const bool sg = pipe.variant.ends_with("_sg");
  const uint32_t rows_per_group = sg ? std::max(1u, kGroup / std::max(1u, ctx.device().caps().subgroup_size)) : kGroup;
  seq.dispatch(pipe, {{w, Access::read}, {x, Access::read}, {y, Access::write}}, &p, groups_for(ctx.device(), rows, rows_per_group));
}

void record_plain_matvec(Context& ctx, bool int8, uint32_t rows, uint32_t cols, const Buffer& w, const Buffer& x,
                         const Buffer& y, Sequence& seq, const std::string& variant, std::string* used) {
  record_plain_matvec(ctx, int8, rows, cols, w.range(0, matvec_weight_bytes(int8, rows, cols)), x.range(0, cols * 4ull),
                      y.range(0, rows * 4ull), seq, variant, used);
}

Measure read_rate(Context& ctx, const BufferRange& src, int repeats) {
  const Pipeline& pipe = ctx.pipelines().get({.kernel = "bench_read", .bindings = 2, .push_size = sizeof(BenchReadParams)});
  const BenchReadParams p{static_cast<uint32_t>(src.size / 16), kNever};
  // At least 16 vec4s per invocation: enough loads in flight, few workgroups to schedule.
  const uint32_t groups = groups_for(ctx.device(), p.n4, kGroup * 16);
  auto ms = span_samples(ctx, repeats, [&](Sequence& seq) {
    seq.dispatch(pipe, {{src, Access::read}, {ctx.sink().range(), Access::write}}, &p, groups);
  });
  return rate(ms, p.n4 * 16 / 1e9);
}

Measure int8_matvec_rate(Context& ctx, uint32_t rows, uint32_t cols, const BufferRange& w, const BufferRange& x,
                         const BufferRange& y, int repeats) {
  check_matvec_shape(true, rows, cols);
  auto ms = span_samples(ctx, repeats, [&](Sequence& seq) { record_plain_matvec(ctx, true, rows, cols, w, x, y, seq); });
  return rate(ms, double(rows) * cols);
}

double median_of(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

Measure measure_of(std::vector<double> samples) {
  Measure m;
  if (samples.empty()) return m;
  m.median = median_of(samples);
  m.min = *std::min_element(samples.begin(), samples.end());
  m.max = *std::max_element(samples.begin(), samples.end());
  m.samples = static_cast<int>(samples.size());
  return m;
}

uint64_t peak_buffer_bytes(uint64_t range, uint64_t max_allocation, uint64_t heap_budget, uint64_t cap) {
  uint64_t b = std::min({range, max_allocation, heap_budget / 4, uint64_t(256) << 20});
  if (cap) b = std::min(b, cap);
  return std::max<uint64_t>(b / 4096 * 4096, 4096);
}

uint64_t matvec_weight_bytes(bool int8, uint32_t rows, uint32_t cols) { return uint64_t(rows) * cols * (int8 ? 1 : 4); }
double fma_flops(uint32_t workgroups, uint32_t iters) { return double(workgroups) * kGroup * iters * 8 * 4 * 2; }
double int_dot_ops(uint32_t workgroups, uint32_t iters) { return double(workgroups) * kGroup * iters * 8 * 4 * 2; }

std::vector<float> run_plain_matvec(Context& ctx, bool int8, uint32_t rows, uint32_t cols,
                                    const std::vector<uint32_t>& weights, const std::vector<float>& x,
                                    const std::string& variant) {
  check_matvec_shape(int8, rows, cols);
  if (weights.size() * 4 != matvec_weight_bytes(int8, rows, cols) || x.size() != cols)
    throw std::invalid_argument("plain matvec: weights or x do not match " + std::to_string(rows) + " x " + std::to_string(cols));
  Buffer w = ctx.allocator().create_buffer(weights.size() * 4, MemoryUse::device, "matvec w");
  Buffer xb = ctx.allocator().create_buffer(cols * 4ull, MemoryUse::device, "matvec x");
  Buffer y = ctx.allocator().create_buffer(rows * 4ull, MemoryUse::device, "matvec y");
  ctx.transfer().upload(w, 0, weights.data(), weights.size() * 4);
  ctx.transfer().upload(xb, 0, x.data(), x.size() * 4);
  Sequence seq(ctx.device());
  seq.fill(y.range(), 0x7fc00000u);  // NaN: rows the kernel misses show up
  record_plain_matvec(ctx, int8, rows, cols, w, xb, y, seq, variant, nullptr);
  seq.run();
  std::vector<float> out(rows);
  ctx.transfer().download(y, 0, out.data(), out.size() * 4);
  return out;
}

PeakResult run_peak(Context& ctx, const PeakOptions& opt, const Progress& progress) {
  if (!ctx.device().features().timestamps)
    throw std::runtime_error(ctx.device().caps().name + " has no timestamp queries: GPU times cannot be measured");
  if (opt.repeats < 1) throw std::invalid_argument("bench peak: repeats must be >= 1");
  PeakResult r;
  r.device = ctx.device().caps().name;
  r.date = today_utc();
  r.repeats = opt.repeats;
  measure_memory(ctx, opt, r, progress);
  guarded(r.matvec_f32_wps, "matvec F32 (weights/s)", progress,
          [&] { return matvec_rate(ctx, false, opt, r.read_bytes, &r.f32_rows, &r.f32_cols, &r.f32_variant); });
  guarded(r.matvec_i8_wps, "matvec int8 (weights/s)", progress,
          [&] { return matvec_rate(ctx, true, opt, r.read_bytes, &r.i8_rows, &r.i8_cols, &r.i8_variant); });
  guarded(r.fma_f32_flops, "fma fp32 (FLOP/s)", progress,
          [&] { return arithmetic_rate(ctx, "bench_fma_f32", opt.target_ms, opt.repeats, fma_flops); });
  guarded(r.fma_f16_flops, "fma fp16 (FLOP/s)", progress, [&] {
    if (!ctx.device().features().fp16) throw std::runtime_error(r.device + " has no shaderFloat16");
    return arithmetic_rate(ctx, "bench_fma_f16", opt.target_ms, opt.repeats, fma_flops);
  });
  guarded(r.int8_dot_ops, "int8 dot (op/s)", progress, [&] {
    if (auto why = int_dot_absent(ctx); !why.empty()) throw std::runtime_error(why);
    return arithmetic_rate(ctx, "bench_int_dot", opt.target_ms, opt.repeats, int_dot_ops);
  });
  guarded(r.dispatch_us, "empty dispatch (us)", progress, [&] { return dispatch_cost(ctx, opt.dispatches, false, opt.repeats); });
  guarded(r.dispatch_barrier_us, "dispatch + barrier (us)", progress,
          [&] { return dispatch_cost(ctx, opt.dispatches, true, opt.repeats); });
  guarded(r.submit_wait_us, "submit + wait (us)", progress, [&] { return submit_wait_cost(ctx, std::max(20, opt.repeats * 4)); });
  return r;
}

namespace {

struct PeakRow {
  const char* name;
  const Measure* m;
  double scale;  // displayed value = measure / scale
  const char* unit;
  std::string note;
};

std::vector<PeakRow> peak_rows(const PeakResult& r) {
  auto shape = [](uint32_t rows, uint32_t cols, const std::string& v) {
    return std::to_string(rows) + " x " + std::to_string(cols) + ", " + v;
  };
  return {{"read, device-local", &r.read_device_gbs, 1, "GB/s", format_bytes(r.read_bytes)},
          {"read, host-visible", &r.read_host_gbs, 1, "GB/s", format_bytes(r.read_bytes)},
          {"copy, device-local", &r.copy_device_gbs, 1, "GB/s", "vkCmdCopyBuffer, bytes copied"},
          {"copy, host-visible -> device-local", &r.copy_host_gbs, 1, "GB/s", "vkCmdCopyBuffer, bytes copied"},
          {"matvec F32", &r.matvec_f32_wps, 1e6, "M weights/s", shape(r.f32_rows, r.f32_cols, r.f32_variant)},
          {"matvec int8 (16 per uvec4)", &r.matvec_i8_wps, 1e6, "M weights/s", shape(r.i8_rows, r.i8_cols, r.i8_variant)},
          {"fma fp32", &r.fma_f32_flops, 1e9, "GFLOP/s", "multiply-add = 2"},
          {"fma fp16", &r.fma_f16_flops, 1e9, "GFLOP/s", "multiply-add = 2"},
          {"int8 dot (4x8 packed)", &r.int8_dot_ops, 1e9, "Gop/s", "multiply-add = 2"},
          {"empty dispatch", &r.dispatch_us, 1, "us", "GPU time"},
          {"dispatch + barrier", &r.dispatch_barrier_us, 1, "us", "GPU time"},
          {"submit + wait", &r.submit_wait_us, 1, "us", "CPU time, empty command buffer"}};
}

nlohmann::ordered_json measure_json(const Measure& m) {
  if (!m.ok()) return {{"median", nullptr}, {"note", m.note}};
  return {{"median", m.median}, {"min", m.min}, {"max", m.max}, {"samples", m.samples}};
}

}  // namespace

std::string peak_table(const PeakResult& r) {
  std::ostringstream o;
  o << "device: " << r.device << " (" << r.date << "); medians of " << r.repeats
    << " timed runs after one warm-up, with min and max\n\n"
    << "| measure | median | min | max | unit | notes |\n| --- | ---: | ---: | ---: | --- | --- |\n";
  char buf[320];
  for (const auto& row : peak_rows(r)) {
    if (!row.m->ok()) {
      o << "| " << row.name << " | - | - | - | " << row.unit << " | not measured: " << row.m->note << " |\n";
      continue;
    }
    std::snprintf(buf, sizeof buf, "| %s | %.4g | %.4g | %.4g | %s | %s |\n", row.name, row.m->median / row.scale,
                  row.m->min / row.scale, row.m->max / row.scale, row.unit, row.note.c_str());
    o << buf;
  }
  return o.str();
}

nlohmann::ordered_json peak_json_object(const PeakResult& r) {
  nlohmann::ordered_json j;
  j["device"] = r.device;
  j["date"] = r.date;
  j["repeats"] = r.repeats;
  j["read_bytes"] = r.read_bytes;
  j["copy_bytes"] = r.copy_bytes;
  j["read_device_gb_per_s"] = measure_json(r.read_device_gbs);
  j["read_host_gb_per_s"] = measure_json(r.read_host_gbs);
  j["copy_device_gb_per_s"] = measure_json(r.copy_device_gbs);
  j["copy_host_gb_per_s"] = measure_json(r.copy_host_gbs);
  j["matvec_f32"] = {{"rows", r.f32_rows}, {"cols", r.f32_cols}, {"variant", r.f32_variant},
                     {"weights_per_s", measure_json(r.matvec_f32_wps)}};
  j["matvec_int8"] = {{"rows", r.i8_rows}, {"cols", r.i8_cols}, {"variant", r.i8_variant},
                      {"weights_per_s", measure_json(r.matvec_i8_wps)}};
  j["fma_f32_flop_per_s"] = measure_json(r.fma_f32_flops);
  j["fma_f16_flop_per_s"] = measure_json(r.fma_f16_flops);
  j["int8_dot_op_per_s"] = measure_json(r.int8_dot_ops);
  j["dispatch_us"] = measure_json(r.dispatch_us);
  j["dispatch_barrier_us"] = measure_json(r.dispatch_barrier_us);
  j["submit_wait_us"] = measure_json(r.submit_wait_us);
  return j;
}

std::string peak_json(const PeakResult& r) { return peak_json_object(r).dump(2); }

std::string today_utc() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

}  // namespace vkmoe
