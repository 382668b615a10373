// The benchmarks' arithmetic and outputs (no timing assertions): what bench peak counts, the
// plain matvec against a double-precision reference, the roofline formula, llama-bench's test
// names and sample statistics, JSON / JSONL / CSV well formed with the documented fields, and
// `vkmoe bench model` end to end on the demo model.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "runtime/bench/kernel_bench.h"
#include "runtime/bench/model_bench.h"
#include "runtime/bench/peak.h"
#include "runtime/gguf/gguf_reader.h"
#include "runtime/model/model_config.h"
#include "runtime/model/model_stats.h"
#include "runtime/model/synthetic_model.h"
#include "tests/gpu_fixture.h"
#include "tests/test_util.h"

using namespace vkmoe;
using namespace vkmoe::test;

namespace {

// RFC 4180: fields separated by commas, quoted fields may hold commas and doubled quotes.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1);
  std::string field;
  bool quoted = false, was_quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') field += '"', ++i;
      else if (c == '"') quoted = false;
      else field += c;
    } else if (c == '"') {
      REQUIRE_MESSAGE((field.empty() && !was_quoted), "a quote inside an unquoted CSV field");
      quoted = was_quoted = true;
    } else if (c == ',' || c == '\n') {
      rows.back().push_back(field);
      field.clear();
      was_quoted = false;
      if (c == '\n') rows.emplace_back();
    } else field += c;
  }
  REQUIRE_FALSE(quoted);
  if (rows.back().empty()) rows.pop_back();
  return rows;
}

const std::vector<std::string> kDocumentedFields = {
    "model_filename", "model_type", "model_size", "model_n_params", "n_prompt", "n_gen", "n_depth", "n_batch",
    "avg_ts", "stddev_ts", "samples_ts", "samples_ns", "median_ts", "device", "test", "percent_of_limit", "limit_bound",
    "dispatches_per_token", "decode_step_kernels", "limit_samples_ts", "percent_samples", "percent_median", "percent_min",
    "percent_max"};

ModelBenchReport fake_report() {
  ModelBenchReport r;
  r.device = "Test GPU, \"quoted\"";
  r.date = "2026-12-01";
  r.model_filename = "m,odel.gguf";
  r.model_type = "qwen3moe 47M.A12M Q4_K";
  r.model_size = 58720256;
  r.model_n_params = 47000000;
  r.n_batch = 512;
  r.peak.read_device_gbs = measure_of({2.0, 2.5, 2.2});
  r.peak.matvec_i8_wps = measure_of({2e8});
  auto pp = make_test(512, 0, 0);
  add_sample(pp, 5e9);
  add_sample(pp, 4e9);
  auto tg = make_test(0, 128, 4096);
  add_sample(tg, 2e10);
  tg.dispatches_per_token = 63;
  tg.bytes_per_token = 9e6;
  tg.weights_per_token = 1.2e7;
  tg.probes = {{2.0e9, 1.8e8}, {2.4e9, 2.2e8}};  // bracketing the one run: 2.2 GB/s, 2e8 weights/s
  pair_limits(tg);
  r.tests = {pp, tg};
  r.decode_kernels = {{"matvec", 17, 12.5}, {"moe_gate_up", 4, 8.25}};
  r.decode_dispatches = 63;
  return r;
}

}  // namespace

TEST_CASE("bench kernels --types: names in any case, new, all; unknown names refused") {
  CHECK(parse_bench_types("Q4_K,iq4_xs") == std::vector<GgmlType>{GgmlType::Q4_K, GgmlType::IQ4_XS});
  const auto fresh = parse_bench_types("new");
  CHECK(fresh.size() == 15);
  CHECK(std::find(fresh.begin(), fresh.end(), GgmlType::Q4_K) == fresh.end());
  CHECK(std::find(fresh.begin(), fresh.end(), GgmlType::MXFP4) != fresh.end());
  CHECK(parse_bench_types("all").size() == 23);
  CHECK_THROWS_WITH(parse_bench_types("q4_k,tq1_0"), doctest::Contains("'tq1_0' is not a weight type"));
}

TEST_CASE("bench peak counts bytes and operations for known shapes") {
  CHECK(matvec_weight_bytes(false, 3, 8) == 96);
  CHECK(matvec_weight_bytes(true, 3, 16) == 48);
  CHECK(matvec_weight_bytes(false, 8192, 4096) == 128ull << 20);
  // 2 workgroups x 64 invocations x 10 rounds x 8 chains x 4 lanes x 2 (multiply + add).
  CHECK(fma_flops(2, 10) == doctest::Approx(81920.0));
  CHECK(int_dot_ops(1, 1) == doctest::Approx(4096.0));
  // Buffer sizes from device limits: the binding range, 256 MiB, allocation size, a quarter of the budget.
  CHECK(peak_buffer_bytes(128ull << 20, 2ull << 30, 16ull << 30) == 128ull << 20);  // lavapipe
  CHECK(peak_buffer_bytes(4ull << 30, 4ull << 30, 141ull << 30) == 256ull << 20);   // a large GPU
  CHECK(peak_buffer_bytes(1ull << 30, 1ull << 30, 400ull << 20) == 100ull << 20);   // a small heap
  CHECK(peak_buffer_bytes(128ull << 20, 2ull << 30, 16ull << 30, 1ull << 20) == 1ull << 20);
  CHECK(peak_buffer_bytes(100, 100, 100) == 4096);  // never zero
  // bench model's limit probe: one token's active bytes read, rows of the model's width for its
  // active weights, x and y after them at 256-byte offsets; every span within the cap.
  LimitProbeShape ps = limit_probe_shape(512, 9300001, 16110000, 256ull << 20);
  CHECK(ps.read_bytes == 9300000);  // whole vec4s
  CHECK(ps.cols == 512);
  CHECK(ps.rows == 16110000 / 512);
  CHECK(ps.x_offset == (16110000 / 512 * 512 + 255) / 256 * 256);
  CHECK(ps.y_offset == ps.x_offset + 2048);
  CHECK(ps.buffer_bytes == ps.y_offset + ps.rows * 4);
  ps = limit_probe_shape(512, 9300001, 16110000, 1 << 20);  // what the model left allows 1 MiB
  CHECK(ps.read_bytes == 1 << 20);
  CHECK(ps.rows == (1 << 20) / 512);
  CHECK(ps.x_offset == 1 << 20);
  CHECK(ps.buffer_bytes == (1 << 20) + 2048 + 2048 * 4);
  ps = limit_probe_shape(1000, 40, 10, 1 << 20);  // width rounded down to 16s; at least one row
  CHECK(ps.cols == 992);
  CHECK(ps.rows == 1);
  CHECK(ps.read_bytes == 32);
  CHECK(ps.x_offset == 1024);  // 992 weights, 256-byte aligned

  const Measure m = measure_of({3.0, 1.0, 2.0, 10.0});
  CHECK(m.median == 2.5);
  CHECK(m.min == 1.0);
  CHECK(m.max == 10.0);
  CHECK(m.samples == 4);
  CHECK_FALSE(measure_of({}).ok());
}

TEST_CASE("active bytes and weights per decode token for a known shape") {
  SyntheticSpec spec;  // qwen3moe, F32: H 64, 2 layers, 4/2 heads of 16, 8 experts of 64, top-2, vocabulary 320
  const auto path = std::filesystem::temp_directory_path() / ("vkmoe_bench_stats_" + std::to_string(seed()) + ".gguf");
  make_synthetic_model(spec).write(path.string());
  auto file = GgufFile::open(path.string());
  const ModelConfig cfg = load_model_config(file);
  const ModelStats s = model_stats(file, cfg);
  // Per layer: norms 64 + 64, q 64x64, k 64x32, v 64x32, o 64x64, q/k norms 16 + 16, router 64x8,
  // experts 3 x 64x64 of which top-2 of 8 are read. Plus output norm, output 64x320 and one embedding row.
  const uint64_t layer = 64 + 64 + 4096 + 2048 + 2048 + 4096 + 16 + 16 + 512;
  const uint64_t active = 2 * (layer + 3 * 64 * 64 * 2) + 64 + 64 * 320 + 64;
  CHECK(s.active_params == active);
  CHECK(s.active_bytes == 4 * active);
  CHECK(s.params == 2 * (layer + 3 * 64 * 64 * 8) + 64 + 2 * 64 * 320);
  // KV cache read per token: 2 layers x 2 heads x (16 + 16) x 2 bytes = 256 bytes per position;
  // tg128 from depth 0 reads on average (128 + 1) / 2 positions, @ d4096 4096 more.
  CHECK(kv_bytes_per_token(cfg, 0, 128) == doctest::Approx(64.5 * 256));
  CHECK(kv_bytes_per_token(cfg, 4096, 128) == doctest::Approx(4160.5 * 256));
  CHECK(kv_bytes_per_token(cfg, 0, 1) == doctest::Approx(256));
  std::filesystem::remove(path);
}

TEST_CASE("the roofline limit is the lower bound, and the percent is measured over it") {
  // 100 GB/s over 1 GB per token = 100 t/s; 50 M weights/s over 1 M weights = 50 t/s.
  Roofline r = roofline(100e9, 50e6, 1e9, 1e6, 20);
  CHECK(r.bandwidth_ts == doctest::Approx(100));
  CHECK(r.compute_ts == doctest::Approx(50));
  CHECK(r.limit_ts == doctest::Approx(50));
  CHECK(r.bound == "compute");
  CHECK(r.percent == doctest::Approx(40));
  r = roofline(100e9, 500e6, 1e9, 1e6, 20);  // a GPU: bandwidth binds
  CHECK(r.bound == "bandwidth");
  CHECK(r.limit_ts == doctest::Approx(100));
  CHECK(r.percent == doctest::Approx(20));
  r = roofline(0, 50e6, 1e9, 1e6, 20);  // bandwidth not measured: compute alone
  CHECK(r.bound == "compute");
  r = roofline(0, 0, 1e9, 1e6, 20);
  CHECK(r.bound.empty());
  CHECK(r.percent == 0);
}

TEST_CASE("each decode run is judged against the limit probed before and after it") {
  // 60 tokens per run at 20, 30, 15, 40 t/s; 1e6 weights per token, so the compute bound in t/s is
  // the int8 rate in M weights/s; the read bandwidth (1 TB/s over 1 GB) never binds.
  auto t = make_test(0, 60, 0);
  t.bytes_per_token = 1e9;
  t.weights_per_token = 1e6;
  for (double ns : {3e9, 2e9, 4e9, 1.5e9}) add_sample(t, ns);
  auto probe = [](double mw) { return LimitSample{1e12, mw * 1e6}; };
  t.probes = {probe(40), probe(60), probe(40), probe(20), probe(80)};
  pair_limits(t);
  // Run i against the mean of probes i and i + 1: limits 50, 50, 30, 50 -> 40%, 60%, 50%, 80%.
  REQUIRE(t.paired.size() == 4);
  const double limits[] = {50, 50, 30, 50}, percents[] = {40, 60, 50, 80};
  for (size_t i = 0; i < 4; ++i) {
    CAPTURE(i);
    CHECK(t.paired[i].bound == "compute");
    CHECK(t.paired[i].limit_ts == doctest::Approx(limits[i]));
    CHECK(t.paired[i].percent == doctest::Approx(percents[i]));
  }
  CHECK(t.percent.samples == 4);
  CHECK(t.percent.median == doctest::Approx(55));  // not median t/s over median limit: 25 / 50 = 50%
  CHECK(t.percent.min == doctest::Approx(40));
  CHECK(t.percent.max == doctest::Approx(80));
  CHECK(t.roof.bound == "compute");
  CHECK(t.roof.limit_ts == doctest::Approx(50));  // at the median of the paired rates
  CHECK(t.roof.percent == doctest::Approx(55));

  // A failed probe is left out of the means beside it; a run with no probe measured beside it
  // has no limit and is left out of the percent.
  t.probes[2] = LimitSample{};
  pair_limits(t);
  CHECK(t.paired[1].limit_ts == doctest::Approx(60));
  CHECK(t.paired[2].limit_ts == doctest::Approx(20));
  CHECK(t.percent.median == doctest::Approx(62.5));  // 40, 50, 75, 80
  t.probes[3] = t.probes[1] = LimitSample{};
  pair_limits(t);
  CHECK(t.paired[1].bound.empty());
  CHECK(t.paired[2].bound.empty());
  CHECK(t.percent.samples == 2);
  CHECK(t.percent.median == doctest::Approx(50));  // 20 / 40 and 40 / 80

  // Every probe failed: speeds, no roofline.
  t.probes.assign(5, LimitSample{});
  pair_limits(t);
  CHECK(t.paired.size() == 4);
  CHECK_FALSE(t.percent.ok());
  CHECK(t.roof.bound.empty());
  CHECK(t.ts.median == doctest::Approx(25));

  // While the runs go on: a run is paired once the probe after it is in.
  t.probes = {probe(40), probe(60)};
  pair_limits(t);
  REQUIRE(t.paired.size() == 1);
  CHECK(t.paired[0].percent == doctest::Approx(40));
}

TEST_CASE("llama-bench's test names, order and sample statistics") {
  CHECK(make_test(512, 0, 0).name == "pp512");
  CHECK(make_test(0, 128, 0).name == "tg128");
  CHECK(make_test(0, 128, 4096).name == "tg128 @ d4096");
  ModelBenchOptions opt;
  opt.n_prompt = {64, 0, 512};
  opt.n_gen = {16};
  opt.n_depth = {0, 100};
  std::vector<std::string> names;
  for (const auto& t : plan_tests(opt)) names.push_back(t.name);
  CHECK(names == std::vector<std::string>{"pp64", "pp512", "tg16", "pp64 @ d100", "pp512 @ d100", "tg16 @ d100"});

  auto t = make_test(0, 128, 0);
  add_sample(t, 1e9);  // 128 tokens in 1 s
  CHECK(t.avg_ts == doctest::Approx(128));
  CHECK(t.stddev_ts == 0);
  add_sample(t, 2e9);
  CHECK(t.samples_ts == std::vector<double>{128, 64});
  CHECK(t.avg_ts == doctest::Approx(96));
  CHECK(t.stddev_ts == doctest::Approx(std::sqrt(2 * 32.0 * 32.0)));  // sample standard deviation
  CHECK(t.avg_ns == doctest::Approx(1.5e9));
  add_sample(t, 4e9);
  CHECK(t.ts.median == doctest::Approx(64));
  CHECK(t.ts.min == doctest::Approx(32));
  CHECK(t.ts.max == doctest::Approx(128));
}

TEST_CASE("bench model writes well-formed JSON, JSONL and CSV with the documented fields") {
  const ModelBenchReport r = fake_report();
  const auto j = nlohmann::json::parse(model_bench_json(r));
  REQUIRE(j.is_array());
  REQUIRE(j.size() == 2);
  for (const auto& f : kDocumentedFields) CHECK_MESSAGE(j[0].contains(f), f);
  CHECK(j[0]["test"] == "pp512");
  CHECK(j[0]["samples_ns"] == nlohmann::json::array({5000000000ull, 4000000000ull}));
  CHECK(j[0]["percent_of_limit"].is_null());  // prefill has no roofline column
  CHECK(j[1]["n_depth"] == 4096);
  CHECK(j[1]["limit_bound"] == "compute");
  CHECK(j[1]["percent_of_limit"].get<double>() == doctest::Approx(100.0 * 6.4 / (2e8 / 1.2e7)));
  CHECK(j[1]["percent_median"] == j[1]["percent_of_limit"]);
  CHECK(j[1]["percent_min"] == j[1]["percent_of_limit"]);
  CHECK(j[1]["limit_samples_ts"].size() == 1);
  CHECK(j[1]["limit_samples_ts"][0].get<double>() == doctest::Approx(2e8 / 1.2e7));
  CHECK(j[1]["percent_samples"][0] == j[1]["percent_of_limit"]);
  CHECK(j[0]["percent_samples"].is_null());
  CHECK(j[1]["dispatches_per_token"] == 63);
  CHECK(j[1]["decode_step_kernels"].size() == 2);
  CHECK(j[1]["device"] == r.device);

  std::istringstream lines(model_bench_jsonl(r));
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) CHECK(nlohmann::json::parse(line) == j[n++]);
  CHECK(n == 2);

  const auto rows = parse_csv(model_bench_csv(r));
  REQUIRE(rows.size() == 3);
  for (const auto& row : rows) CHECK(row.size() == rows[0].size());
  auto col = [&](const std::string& name) {
    auto it = std::find(rows[0].begin(), rows[0].end(), name);
    REQUIRE(it != rows[0].end());
    return static_cast<size_t>(it - rows[0].begin());
  };
  for (const auto& f : kDocumentedFields) col(f);
  CHECK(rows[1][col("model_filename")] == "m,odel.gguf");
  CHECK(rows[1][col("device")] == r.device);
  CHECK(rows[1][col("samples_ns")] == "5000000000;4000000000");
  CHECK(rows[1][col("percent_of_limit")].empty());
  CHECK(rows[1][col("percent_median")].empty());
  CHECK(std::stod(rows[2][col("percent_median")]) == doctest::Approx(100.0 * 6.4 / (2e8 / 1.2e7)));
  CHECK(std::stod(rows[2][col("limit_samples_ts")]) == doctest::Approx(2e8 / 1.2e7));
  CHECK(rows[2][col("test")] == "tg128 @ d4096");
  CHECK(std::stod(rows[2][col("avg_ts")]) == doctest::Approx(6.4));

  const std::string md = model_bench_markdown(r);
  CHECK(md.find("| model | size | params | backend | test | t/s |") == 0);
  CHECK(md.find("| tg128 @ d4096 | 6.40 ± 0.00 | 6.40 [6.40, 6.40] |") != std::string::npos);
  CHECK(md.find("| compute | 63 |") != std::string::npos);
  CHECK(md.find("| 16.67 | 38.4% [38.4, 38.4] | compute |") != std::string::npos);
  CHECK(md.find("median [min, max] of 3 probes): read bandwidth 2.2 [2, 2.5] GB/s") != std::string::npos);
}

TEST_CASE("bench model without a limit still reports its speeds, in well-formed outputs") {
  ModelBenchReport r = fake_report();
  r.tests[1].probes.assign(2, LimitSample{});  // no timestamps, say
  pair_limits(r.tests[1]);
  r.peak.read_device_gbs = r.peak.matvec_i8_wps = Measure{.note = "Test GPU has no timestamp queries"};
  const auto j = nlohmann::json::parse(model_bench_json(r));
  REQUIRE(j.size() == 2);
  CHECK(j[1]["avg_ts"].get<double>() == doctest::Approx(6.4));
  CHECK(j[1]["limit_bound"] == "");
  CHECK(j[1]["limit_samples_ts"] == nlohmann::json::array({nullptr}));
  CHECK(j[1]["percent_samples"] == nlohmann::json::array({nullptr}));
  for (const char* f : {"percent_median", "percent_min", "percent_max"}) CHECK_MESSAGE(j[1][f].is_null(), f);
  const auto rows = parse_csv(model_bench_csv(r));
  REQUIRE(rows.size() == 3);
  for (const auto& row : rows) CHECK(row.size() == rows[0].size());
  const std::string md = model_bench_markdown(r);
  CHECK(md.find("| tg128 @ d4096 | 6.40 ± 0.00 | 6.40 [6.40, 6.40] | - | - | - | 63 |") != std::string::npos);
  CHECK(md.find("No roofline: the limit probes failed (Test GPU has no timestamp queries)") != std::string::npos);
}

TEST_CASE_FIXTURE(GpuTest, "the plain matvec, F32 and int8, every variant, matches a double-precision reference") {
  for (bool int8 : {false, true}) {
    auto variants = ctx.pipelines().supported_variants(int8 ? "bench_matvec_i8" : "bench_matvec_f32");
    REQUIRE(!variants.empty());
    for (auto [rows, cols] : {std::pair<uint32_t, uint32_t>{1, 16}, {37, 48}, {130, 272}}) {
      std::vector<uint32_t> w(matvec_weight_bytes(int8, rows, cols) / 4);
      std::vector<double> wf(size_t(rows) * cols);
      if (int8) {
        for (size_t i = 0; i < wf.size(); ++i) {
          const int8_t b = static_cast<int8_t>(rng()());
          w[i / 4] |= uint32_t(uint8_t(b)) << (8 * (i % 4));
          wf[i] = std::max(b / 127.0, -1.0);  // unpackSnorm4x8
        }
      } else {
        const auto f = random_floats(wf.size());
        std::memcpy(w.data(), f.data(), f.size() * 4);
        for (size_t i = 0; i < f.size(); ++i) wf[i] = f[i];
      }
      const auto x = random_floats(cols);
      for (const auto* v : variants) {
        CAPTURE(v->name);
        CAPTURE(rows);
        CAPTURE(cols);
        const auto y = run_plain_matvec(ctx, int8, rows, cols, w, x, v->name);
        for (uint32_t r = 0; r < rows; ++r) {
          double ref = 0, mag = 0;
          for (uint32_t c = 0; c < cols; ++c) ref += wf[size_t(r) * cols + c] * x[c], mag += std::fabs(wf[size_t(r) * cols + c] * x[c]);
          REQUIRE(std::isfinite(y[r]));
          CHECK(std::fabs(y[r] - ref) <= 1e-5 * mag + 1e-30);
        }
      }
    }
  }
  CHECK_THROWS_AS(run_plain_matvec(ctx, true, 2, 20, std::vector<uint32_t>(10), std::vector<float>(20)), std::invalid_argument);
}

TEST_CASE_FIXTURE(GpuTest, "bench peak runs every figure at small sizes under validation") {
  PeakResult r = run_peak(ctx, {.repeats = 1, .max_bytes = 1 << 20, .target_ms = 1, .dispatches = 8});
  CHECK(r.read_bytes == 1u << 20);
  CHECK(r.f32_cols == 4096);
  for (const Measure* m : {&r.read_device_gbs, &r.read_host_gbs, &r.copy_device_gbs, &r.copy_host_gbs, &r.matvec_f32_wps,
                           &r.matvec_i8_wps, &r.fma_f32_flops, &r.dispatch_us, &r.dispatch_barrier_us, &r.submit_wait_us}) {
    CHECK_MESSAGE(m->ok(), m->note);
    CHECK(std::isfinite(m->median));
    CHECK(m->median > 0);
  }
  CHECK(r.f32_rows * uint64_t(r.f32_cols) * 4 <= r.read_bytes);
  // Absent figures say why.
  for (const Measure* m : {&r.fma_f16_flops, &r.int8_dot_ops})
    if (!m->ok()) CHECK_FALSE(m->note.empty());
  const auto j = nlohmann::json::parse(peak_json(r));
  CHECK(j["read_device_gb_per_s"]["median"].get<double>() > 0);
  CHECK(peak_table(r).find("| matvec int8 (16 per uvec4) |") != std::string::npos);
  // A fixed shape; F32 gets fewer rows when 4 bytes a weight would overflow the buffer.
  r = run_peak(ctx, {.repeats = 1, .max_bytes = 1 << 20, .target_ms = 1, .dispatches = 8, .matvec_rows = 1000, .matvec_cols = 512});
  CHECK(r.i8_rows == 1000);
  CHECK(r.i8_cols == 512);
  CHECK(r.f32_rows == (1u << 20) / (512 * 4));
  CHECK(r.matvec_f32_wps.ok());
}

TEST_CASE("vkmoe bench model -o json runs on the demo model") {
  const std::string cache = (std::filesystem::temp_directory_path() / ("vkmoe_bench_cli_" + std::to_string(seed()))).string();
  const std::string cmd = "VKMOE_VALIDATE=1 VKMOE_SYNC_VALIDATION=1 VKMOE_CACHE_DIR=" + cache + " " + VKMOE_EXE +
                          " bench model -p 8 -n 4 -r 1 -o json 2>" + cache + ".err";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p);
  std::array<char, 4096> buf;
  for (size_t n; (n = fread(buf.data(), 1, buf.size(), p)) > 0;) out.append(buf.data(), n);
  const int status = pclose(p);
  INFO(out);
  REQUIRE(status == 0);
  const auto j = nlohmann::json::parse(out);
  REQUIRE(j.size() == 2);
  CHECK(j[0]["test"] == "pp8");
  CHECK(j[1]["test"] == "tg4");
  for (const auto& f : kDocumentedFields) CHECK_MESSAGE(j[1].contains(f), f);
  CHECK(j[1]["samples_ts"].size() == 1);
  CHECK(j[1]["avg_ts"].get<double>() > 0);
  CHECK(j[1]["dispatches_per_token"].get<int>() > 0);
  CHECK(j[1]["percent_of_limit"].get<double>() > 0);
  REQUIRE(j[1]["percent_samples"].size() == 1);  // one timed run, between two limit probes
  CHECK(j[1]["percent_samples"][0].get<double>() > 0);
  CHECK(j[1]["percent_median"] == j[1]["percent_of_limit"]);
  CHECK(j[1]["read_bandwidth_gb_per_s"].get<double>() > 0);
  CHECK(j[1]["decode_step_kernels"].size() > 0);
  std::ifstream err_file(cache + ".err");
  const std::string err((std::istreambuf_iterator<char>(err_file)), {});
  CHECK_MESSAGE(err.find("validation error") == std::string::npos, err);
  std::filesystem::remove_all(cache);
  std::filesystem::remove(cache + ".err");
}
