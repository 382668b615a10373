// bench model's arithmetic (roofline, samples, test names) and its outputs.
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "runtime/bench/model_bench.h"
#include "runtime/model/model_config.h"
#include "runtime/vk/caps.h"

namespace vkmoe {

Roofline roofline(double read_bytes_per_s, double int8_weights_per_s, double bytes_per_token, double weights_per_token,
                  double measured_ts) {
  Roofline r;
  if (read_bytes_per_s > 0 && bytes_per_token > 0) r.bandwidth_ts = read_bytes_per_s / bytes_per_token;
  if (int8_weights_per_s > 0 && weights_per_token > 0) r.compute_ts = int8_weights_per_s / weights_per_token;
  if (r.bandwidth_ts > 0 && (r.compute_ts <= 0 || r.bandwidth_ts <= r.compute_ts)) {
    r.limit_ts = r.bandwidth_ts;
    r.bound = "bandwidth";
  } else if (r.compute_ts > 0) {
    r.limit_ts = r.compute_ts;
    r.bound = "compute";
  }
  if (r.limit_ts > 0) r.percent = 100.0 * measured_ts / r.limit_ts;
  return r;
}

LimitProbeShape limit_probe_shape(uint32_t n_embd, uint64_t active_bytes, uint64_t active_params, uint64_t cap) {
  auto align = [](uint64_t v) { return (v + 255) / 256 * 256; };
  LimitProbeShape s;
  s.read_bytes = std::max<uint64_t>(16, std::min(active_bytes, cap) / 16 * 16);  // whole vec4s
  s.cols = std::max(16u, n_embd / 16 * 16);
  s.rows = static_cast<uint32_t>(std::clamp<uint64_t>(std::min(active_params, cap) / s.cols, 1, UINT32_MAX));
  s.x_offset = align(std::max<uint64_t>(s.read_bytes, uint64_t(s.rows) * s.cols));
  s.y_offset = align(s.x_offset + s.cols * 4ull);
  s.buffer_bytes = s.y_offset + s.rows * 4ull;
  return s;
}

double kv_bytes_per_token(const ModelConfig& cfg, uint32_t n_depth, uint32_t n_gen) {
  // Positions n_depth .. n_depth + n_gen - 1 read p + 1 rows each: n_depth + (n_gen + 1) / 2 on average.
  const double rows = n_depth + (std::max(n_gen, 1u) + 1) / 2.0;
  const ModelConfig::AttentionShape a = cfg.attention_shape();
  const double row_bytes = 2.0 * cfg.n_layer * a.n_head_kv * (a.head_dim_k + a.head_dim_v);  // f16
  return rows * row_bytes;
}

ModelBenchTest make_test(uint32_t n_prompt, uint32_t n_gen, uint32_t n_depth) {
  ModelBenchTest t;
  t.n_prompt = n_prompt;
  t.n_gen = n_gen;
  t.n_depth = n_depth;
  t.name = n_prompt ? "pp" + std::to_string(n_prompt) : "tg" + std::to_string(n_gen);
  if (n_depth) t.name += " @ d" + std::to_string(n_depth);
  return t;
}

std::vector<ModelBenchTest> plan_tests(const ModelBenchOptions& opt) {
  std::vector<ModelBenchTest> tests;
  for (uint32_t d : opt.n_depth) {
    for (uint32_t p : opt.n_prompt)
      if (p) tests.push_back(make_test(p, 0, d));
    for (uint32_t n : opt.n_gen)
      if (n) tests.push_back(make_test(0, n, d));
  }
  return tests;
}

namespace {
void mean_stddev(const std::vector<double>& v, double* mean, double* stddev) {
  double s = 0;
  for (double x : v) s += x;
  *mean = v.empty() ? 0 : s / v.size();
  double q = 0;
  for (double x : v) q += (x - *mean) * (x - *mean);
  *stddev = v.size() > 1 ? std::sqrt(q / (v.size() - 1)) : 0;
}
}  // namespace

void add_sample(ModelBenchTest& t, double ns) {
  const uint32_t tokens = t.n_prompt + t.n_gen;
  t.samples_ns.push_back(ns);
  t.samples_ts.push_back(ns > 0 ? tokens * 1e9 / ns : 0);
  mean_stddev(t.samples_ns, &t.avg_ns, &t.stddev_ns);
  mean_stddev(t.samples_ts, &t.avg_ts, &t.stddev_ts);
  t.ts = measure_of(t.samples_ts);
}

namespace {
// The mean of the figures that were measured (> 0); 0 when neither was.
double mean_measured(double a, double b) {
  if (a > 0 && b > 0) return 0.5 * (a + b);
  return a > 0 ? a : std::max(b, 0.0);
}
}  // namespace

void pair_limits(ModelBenchTest& t) {
  t.paired.clear();
  std::vector<double> reads, i8s, percents;
  const size_t n = std::min(t.samples_ts.size(), t.probes.empty() ? 0 : t.probes.size() - 1);
  for (size_t i = 0; i < n; ++i) {
    const LimitSample& before = t.probes[i];
    const LimitSample& after = t.probes[i + 1];
    const double read = mean_measured(before.read_bytes_per_s, after.read_bytes_per_s);
    const double i8 = mean_measured(before.int8_weights_per_s, after.int8_weights_per_s);
    t.paired.push_back(roofline(read, i8, t.bytes_per_token, t.weights_per_token, t.samples_ts[i]));
    if (read > 0) reads.push_back(read);
    if (i8 > 0) i8s.push_back(i8);
    if (!t.paired.back().bound.empty()) percents.push_back(t.paired.back().percent);
  }
  t.percent = measure_of(percents);
  t.roof = roofline(median_of(reads), median_of(i8s), t.bytes_per_token, t.weights_per_token, t.ts.median);
  t.roof.percent = t.percent.median;
}

namespace {

using Json = nlohmann::ordered_json;

// One object per test: llama-bench's fields, then vkmoe's (null where they do not apply).
Json test_json(const ModelBenchReport& r, const ModelBenchTest& t) {
  Json j;
  j["model_filename"] = r.model_filename;
  j["model_type"] = r.model_type;
  j["model_size"] = r.model_size;
  j["model_n_params"] = r.model_n_params;
  j["backends"] = r.backend;
  j["gpu_info"] = r.device;
  j["device"] = r.device;
  j["n_batch"] = r.n_batch;
  j["n_prompt"] = t.n_prompt;
  j["n_gen"] = t.n_gen;
  j["n_depth"] = t.n_depth;
  j["test"] = t.name;
  j["test_time"] = r.date;
  j["avg_ns"] = static_cast<uint64_t>(t.avg_ns);
  j["stddev_ns"] = static_cast<uint64_t>(t.stddev_ns);
  j["avg_ts"] = t.avg_ts;
  j["stddev_ts"] = t.stddev_ts;
  j["samples_ns"] = Json::array();
  for (double ns : t.samples_ns) j["samples_ns"].push_back(static_cast<uint64_t>(ns));
  j["samples_ts"] = t.samples_ts;
  j["median_ts"] = t.ts.median;
  j["min_ts"] = t.ts.min;
  j["max_ts"] = t.ts.max;
  const bool tg = t.n_gen > 0;
  auto opt = [&](double v) { return tg ? Json(v) : Json(nullptr); };
  j["read_bandwidth_gb_per_s"] = r.peak.read_device_gbs.median;
  j["int8_matvec_weights_per_s"] = r.peak.matvec_i8_wps.median;
  j["int8_matvec_shape"] = std::to_string(r.peak.i8_rows) + "x" + std::to_string(r.peak.i8_cols);
  j["bytes_per_token"] = opt(t.bytes_per_token);
  j["weights_per_token"] = opt(t.weights_per_token);
  j["bandwidth_bound_ts"] = opt(t.roof.bandwidth_ts);
  j["compute_bound_ts"] = opt(t.roof.compute_ts);
  j["limit_ts"] = opt(t.roof.limit_ts);
  j["limit_bound"] = tg ? Json(t.roof.bound) : Json(nullptr);
  j["percent_of_limit"] = opt(t.roof.percent);
  // Each timed run against the limit probed beside it (null where no probe beside it measured).
  Json limits = Json::array(), percents = Json::array();
  for (const auto& p : t.paired) {
    limits.push_back(p.bound.empty() ? Json(nullptr) : Json(p.limit_ts));
    percents.push_back(p.bound.empty() ? Json(nullptr) : Json(p.percent));
  }
  auto paired = [&](double v) { return tg && t.percent.ok() ? Json(v) : Json(nullptr); };
  j["limit_samples_ts"] = tg ? limits : Json(nullptr);
  j["percent_samples"] = tg ? percents : Json(nullptr);
  j["percent_median"] = paired(t.percent.median);
  j["percent_min"] = paired(t.percent.min);
  j["percent_max"] = paired(t.percent.max);
  j["dispatches_per_token"] = tg ? Json(t.dispatches_per_token) : Json(nullptr);
  Json k = Json::array();
  for (const auto& s : r.decode_kernels) k.push_back({{"kernel", s.kernel}, {"calls", s.calls}, {"ms", s.ms}});
  j["decode_step_kernels"] = tg ? k : Json(nullptr);
  j["decode_step_wall_ms"] = opt(r.decode_step_wall_ms);
  return j;
}

// A JSON value as one CSV field: arrays joined with ';', objects as name=ms.
std::string csv_field(const Json& v) {
  std::string s;
  if (v.is_null()) return "";
  if (v.is_string()) s = v.get<std::string>();
  else if (v.is_array()) {
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) s += ";";
      s += v[i].is_object() ? v[i]["kernel"].get<std::string>() + "=" + v[i]["ms"].dump() : v[i].dump();
    }
  } else s = v.dump();
  if (s.find_first_of(",\"\n;") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string params_label(uint64_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, n >= 1000000000ull ? "%.2f B" : "%.2f M", n >= 1000000000ull ? n / 1e9 : n / 1e6);
  return buf;
}

// The markdown's note under the table: the device and the limit probes' figures.
std::string limits_note(const ModelBenchReport& r) {
  const auto& p = r.peak;
  char buf[640];
  std::snprintf(buf, sizeof buf, "\ndevice: %s (%s). Per decode token %s and %s weights (+ KV cache at the test's depth).",
                r.device.c_str(), r.date.c_str(), format_bytes(r.active_bytes).c_str(), params_label(r.active_params).c_str());
  std::string out = buf;
  if (p.read_device_gbs.ok() || p.matvec_i8_wps.ok()) {
    std::snprintf(buf, sizeof buf,
                  " Limits probed beside every timed decode run (median [min, max] of %d probes): read bandwidth %.3g "
                  "[%.3g, %.3g] GB/s over %s, plain int8 matvec %.4g [%.4g, %.4g] M weights/s (%u x %u); %% of limit: "
                  "the median over the runs of each run's t/s over the limit from the probes before and after it.\n",
                  std::max(p.read_device_gbs.samples, p.matvec_i8_wps.samples), p.read_device_gbs.median,
                  p.read_device_gbs.min, p.read_device_gbs.max, format_bytes(p.read_bytes).c_str(), p.matvec_i8_wps.median / 1e6,
                  p.matvec_i8_wps.min / 1e6, p.matvec_i8_wps.max / 1e6, p.i8_rows, p.i8_cols);
    return out + buf;
  }
  const bool decode = std::any_of(r.tests.begin(), r.tests.end(), [](const ModelBenchTest& t) { return t.n_gen > 0; });
  if (!decode) return out + "\n";
  return out + " No roofline: the limit probes failed" + (p.read_device_gbs.note.empty() ? "" : " (" + p.read_device_gbs.note + ")") +
         ".\n";
}

}  // namespace

std::string model_bench_json(const ModelBenchReport& r) {
  Json a = Json::array();
  for (const auto& t : r.tests) a.push_back(test_json(r, t));
  return a.dump(2);
}

std::string model_bench_jsonl(const ModelBenchReport& r) {
  std::string out;
  for (const auto& t : r.tests) out += test_json(r, t).dump() + "\n";
  return out;
}

std::string model_bench_csv(const ModelBenchReport& r) {
  std::ostringstream o;
  bool header = false;
  for (const auto& t : r.tests) {
    const Json j = test_json(r, t);
    std::string line;
    if (!header) {
      for (auto it = j.begin(); it != j.end(); ++it) line += (line.empty() ? "" : ",") + it.key();
      o << line << "\n";
      header = true;
      line.clear();
    }
    bool first = true;
    for (auto it = j.begin(); it != j.end(); ++it, first = false) line += (first ? "" : ",") + csv_field(it.value());
    o << line << "\n";
  }
  return o.str();
}

std::string model_bench_markdown(const ModelBenchReport& r) {
  std::ostringstream o;
  char buf[512];
  o << "| model | size | params | backend | test | t/s | median [min, max] | limit t/s | % of limit | bound | dispatches/token |\n"
    << "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |\n";
  for (const auto& t : r.tests) {
    std::snprintf(buf, sizeof buf, "| %s | %.2f MiB | %s | %s | %s | %.2f ± %.2f |", r.model_type.c_str(),
                  r.model_size / 1048576.0, params_label(r.model_n_params).c_str(), r.backend.c_str(), t.name.c_str(),
                  t.avg_ts, t.stddev_ts);
    o << buf;
    std::snprintf(buf, sizeof buf, " %.2f [%.2f, %.2f] |", t.ts.median, t.ts.min, t.ts.max);
    o << buf;
    if (t.n_gen && !t.roof.bound.empty()) {
      std::snprintf(buf, sizeof buf, " %.2f | %.1f%% [%.1f, %.1f] | %s | %u |\n", t.roof.limit_ts, t.percent.median, t.percent.min,
                    t.percent.max, t.roof.bound.c_str(), t.dispatches_per_token);
      o << buf;
    } else if (t.n_gen) o << " - | - | - | " << t.dispatches_per_token << " |\n";
    else o << " - | - | - | - |\n";
  }
  o << limits_note(r);
  if (!r.decode_kernels.empty()) {
    double total = 0;
    for (const auto& k : r.decode_kernels) total += k.ms;
    std::snprintf(buf, sizeof buf, "\nGPU time of one decode step by kernel (%u dispatches, %.3f ms of %.3f ms wall; profiled "
                  "separately, with timestamps around every dispatch):\n\n| kernel | calls | ms | share |\n"
                  "| --- | ---: | ---: | ---: |\n",
                  r.decode_dispatches, total, r.decode_step_wall_ms);
    o << buf;
    for (const auto& k : r.decode_kernels) {
      std::snprintf(buf, sizeof buf, "| %s | %llu | %.3f | %.1f%% |\n", k.kernel.c_str(), static_cast<unsigned long long>(k.calls),
                    k.ms, total > 0 ? 100 * k.ms / total : 0.0);
      o << buf;
    }
  }
  return o.str();
}

}  // namespace vkmoe
