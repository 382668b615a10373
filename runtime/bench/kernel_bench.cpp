#include "runtime/bench/kernel_bench.h"

#include "runtime/bench/peak.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <nlohmann/json.hpp>
#include <map>
#include <optional>
#include <sys/resource.h>
#include <set>
#include <sstream>

#include "runtime/kernels/matmul.h"
#include "runtime/kernels/moe_experts.h"
#include "runtime/kernels/router.h"
#include "runtime/model/synthetic_model.h"
#include "runtime/quant/quant.h"
#include "runtime/vk/context.h"
#include "runtime/vk/sequence.h"

namespace vkmoe {

namespace {

// A first run shorter than this is warm-up (cold caches, clocks, first-use costs) and is
// dropped; a longer one is kept: cold-start effects are small next to it and the median
// guards against it anyway, and on lavapipe a discarded run costs as much as a kept one.
constexpr double kWarmupKeepMs = 20.0;

double sum_ms(const std::vector<DispatchTiming>& t) {
  double s = 0;
  for (const auto& d : t) s += d.ms;
  return s;
}

struct Runs {
  std::vector<std::vector<DispatchTiming>> timings;  // per kept run, per dispatch
  uint32_t dispatches = 0;
};

// Records `record` into a fresh timed sequence per run until `repeats` runs are kept.
Runs time_runs(Context& ctx, int repeats, const std::function<void(Sequence&)>& record) {
  Runs runs;
  for (int r = 0; static_cast<int>(runs.timings.size()) < repeats; ++r) {
    Sequence seq(ctx.device(), {.timestamps = true, .name = "bench"});
    record(seq);
    seq.run();
    runs.dispatches = seq.dispatches();
    auto t = seq.timings();
    if (r == 0 && sum_ms(t) < kWarmupKeepMs) continue;
    runs.timings.push_back(std::move(t));
  }
  return runs;
}

// Median over runs of the time of dispatches [from, to) of each run.
double median_ms(const Runs& runs, size_t from = 0, size_t to = SIZE_MAX) {
  std::vector<double> v;
  for (const auto& t : runs.timings) {
    double s = 0;
    for (size_t i = from; i < std::min(to, t.size()); ++i) s += t[i].ms;
    v.push_back(s);
  }
  return median_of(v);
}

// A type GGUF writers would use for a row of `cols`: K-quants need whole 256-blocks, so files
// fall back to Q8_0 where they do not fit (llama.cpp does the same).
GgmlType row_type(GgmlType want, uint32_t cols) {
  auto info = ggml_type_info(static_cast<uint32_t>(want));
  return cols % info->block_elems == 0 ? want : GgmlType::Q8_0;
}

// Why an expert tensor cannot be bound on this device, or "": checked before allocating, so
// that a case too large for the device (F16 Mixtral on lavapipe: 8 experts of 112 MiB need 8
// bindings of 128 MiB) is skipped without first allocating and filling gigabytes.
// make_expert_tensor remains the authority and throws with the exact sizes.
std::string binding_problem(const DeviceCaps& caps, GgmlType type, uint32_t experts, uint32_t rows, uint32_t cols) {
  const uint64_t expert_bytes = ggml_row_bytes(type, cols) * rows;
  const uint64_t limit = caps.max_storage_buffer_range / 4 * 4;
  const uint64_t usable = limit - std::max<uint64_t>(caps.storage_buffer_alignment, 4);
  if (expert_bytes > usable)
    return "one expert of " + format_bytes(expert_bytes) + " exceeds one binding (" + format_bytes(limit) + ")";
  const uint64_t per_binding = usable / expert_bytes;
  const uint64_t bindings = (experts + per_binding - 1) / per_binding;
  if (bindings > kMaxExpertPieces)
    return std::string(ggml_type_name(type)) + " [" + std::to_string(cols) + ", " + std::to_string(rows) + ", " +
           std::to_string(experts) + "] needs " + std::to_string(bindings) + " bindings of " + format_bytes(limit) +
           " (maxStorageBufferRange); the kernels bind at most " + std::to_string(kMaxExpertPieces);
  if (expert_bytes * experts > caps.max_memory_allocation_size)
    return "a tensor of " + format_bytes(expert_bytes * experts) + " exceeds maxMemoryAllocationSize (" +
           format_bytes(caps.max_memory_allocation_size) + ")";
  return "";
}

// One expert tensor [cols, rows, experts] of valid blocks: one expert quantized from random
// data and repeated (quantizing gigabytes on the CPU would dominate the run).
Buffer make_weights(Context& ctx, GgmlType type, uint32_t experts, uint32_t rows, uint32_t cols, SplitMix& rng,
                    const std::string& name) {
  std::vector<float> one(static_cast<size_t>(rows) * cols);
  for (auto& v : one) v = rng.uniform(-0.05f, 0.05f);
  std::vector<uint8_t> bytes;
  if (type == GgmlType::F32) {
    bytes.resize(one.size() * 4);
    std::memcpy(bytes.data(), one.data(), bytes.size());
  } else if (quantizer_supported(type)) {
    bytes = quantize(type, one);
  } else {  // the IQ grid types (no reference quantizer): random bytes time the same
    bytes.resize(ggml_row_bytes(type, cols) * rows);
    for (auto& b : bytes) b = static_cast<uint8_t>(rng.next() >> 56);
  }
  const uint64_t per = bytes.size();
  Buffer b = ctx.allocator().create_buffer((per * experts + 15) / 16 * 16, MemoryUse::device, name);
  for (uint32_t e = 0; e < experts; ++e) ctx.transfer().upload(b, per * e, bytes.data(), per);
  return b;
}

Buffer random_buffer(Context& ctx, uint64_t floats, SplitMix& rng, const std::string& name) {
  std::vector<float> v(floats);
  for (auto& f : v) f = rng.uniform(-1, 1);
  Buffer b = ctx.allocator().create_buffer(v.size() * 4, MemoryUse::device, name);
  ctx.transfer().upload(b, 0, v.data(), v.size() * 4);
  return b;
}

// Everything one MoE layer of a shape and weight type needs, for up to max_tokens tokens.
class MoeLayer {
 public:
  MoeLayer(Context& ctx, const BenchShape& s, GgmlType want, uint32_t max_tokens, SplitMix& rng)
      : ctx_(ctx), s_(s), tg_(row_type(want, s.hidden)), td_(row_type(want, s.ffn)),
        ts_(row_type(want, std::max(s.shared_ffn, 1u))) {
    const uint32_t H = s.hidden, F = s.ffn, E = s.experts;
    const auto& caps = ctx.device().caps();
    for (auto p : {binding_problem(caps, tg_, E, F, H), binding_problem(caps, td_, E, H, F)})
      if (!p.empty()) throw std::runtime_error(p);
    gate_ = make_weights(ctx, tg_, E, F, H, rng, "bench gate");
    up_ = make_weights(ctx, tg_, E, F, H, rng, "bench up");
    down_ = make_weights(ctx, td_, E, H, F, rng, "bench down");
    w_ = {make_expert_tensor(ctx.device(), gate_, 0, tg_, E, F, H), make_expert_tensor(ctx.device(), up_, 0, tg_, E, F, H),
          make_expert_tensor(ctx.device(), down_, 0, td_, E, H, F)};
    if (const uint32_t S = s.shared_ffn) {
      sgate_ = make_weights(ctx, tg_, 1, S, H, rng, "bench shared gate");
      sup_ = make_weights(ctx, tg_, 1, S, H, rng, "bench shared up");
      sdown_ = make_weights(ctx, ts_, 1, H, S, rng, "bench shared down");
      sw_ = {make_expert_tensor(ctx.device(), sgate_, 0, tg_, 1, S, H), make_expert_tensor(ctx.device(), sup_, 0, tg_, 1, S, H),
             make_expert_tensor(ctx.device(), sdown_, 0, ts_, 1, H, S)};
    }
    router_w_ = random_buffer(ctx, uint64_t(E) * H, rng, "bench router");
    x_ = random_buffer(ctx, uint64_t(max_tokens) * H, rng, "bench x");
    ids_ = ctx.allocator().create_buffer(uint64_t(max_tokens) * s.k * 4, MemoryUse::device, "bench ids");
    wts_ = ctx.allocator().create_buffer(uint64_t(max_tokens) * s.k * 4, MemoryUse::device, "bench weights");
    out_ = ctx.allocator().create_buffer(uint64_t(max_tokens) * H * 4, MemoryUse::device, "bench out");
    scratch_ = create_moe_scratch(ctx, {.tokens = max_tokens, .k = s.k, .experts = E, .hidden = H,
                                        .ffn = std::max(F, s.shared_ffn)});
  }

  bool mixed_types() const { return tg_ != td_ || (s_.shared_ffn && ts_ != tg_); }
  // The decode pair's stages recorded (MoeSettings::decode_stages: 1 gate/up, 2 down, 3 both).
  void set_stages(uint32_t stages) { scratch_.settings.decode_stages = stages; }

  // Router (dispatch 0), routed experts, shared experts; `experts` false: the router alone.
  void record(Sequence& seq, uint32_t T, MoePath path, bool experts = true) {
    const uint32_t H = s_.hidden, k = s_.k;
    const BufferRange x = x_.range(0, uint64_t(T) * H * 4), out = out_.range(0, uint64_t(T) * H * 4);
    const BufferRange ids = ids_.range(0, uint64_t(T) * k * 4), wts = wts_.range(0, uint64_t(T) * k * 4);
    RouterConfig rc{.gating = Gating::softmax_topk, .experts = s_.experts, .k = k, .renormalize = true};
    record_router(ctx_, seq, rc, {GgmlType::F32, router_w_.range()}, T, H, x, {ids, wts});
    if (!experts) return;
    record_moe_experts(ctx_, seq, w_, {.tokens = T, .k = k, .x = x, .ids = ids, .weights = wts, .out = out, .path = path},
                       scratch_);
    if (s_.shared_ffn)
      record_shared_expert(ctx_, seq, sw_, {.tokens = T, .x = x, .out = out, .path = path, .accumulate = true}, scratch_);
  }

  // Bytes the layer must read for T tokens: router weights and input, each distinct chosen
  // expert once (from the ids the last run wrote), shared experts; and the weights among them.
  uint64_t bytes(uint32_t T, uint32_t* distinct_out, uint64_t* weights_out) {
    std::vector<uint32_t> chosen(static_cast<size_t>(T) * s_.k);
    ctx_.transfer().download(ids_, 0, chosen.data(), chosen.size() * 4);
    std::set<uint32_t> distinct(chosen.begin(), chosen.end());
    distinct.erase(kMoeEmptySlot);
    *distinct_out = static_cast<uint32_t>(distinct.size());
    const uint32_t H = s_.hidden, F = s_.ffn, S = s_.shared_ffn;
    const uint64_t expert_bytes = 2 * ggml_row_bytes(tg_, H) * F + ggml_row_bytes(td_, F) * H;
    uint64_t b = uint64_t(s_.experts) * H * 4 + uint64_t(T) * H * 4 + distinct.size() * expert_bytes;
    if (S) b += 2 * ggml_row_bytes(tg_, H) * S + ggml_row_bytes(ts_, S) * H;
    *weights_out = uint64_t(s_.experts) * H + (distinct.size() * F + S) * 3ull * H;
    return b;
  }

 private:
  Context& ctx_;
  BenchShape s_;
  GgmlType tg_, td_, ts_;
  Buffer gate_, up_, down_, sgate_, sup_, sdown_, router_w_, x_, ids_, wts_, out_;
  MoeFfnWeights w_, sw_;
  MoeScratch scratch_;
};

// The smallest measured count from which the large path wins at every larger measured count.
uint32_t find_crossover(const std::vector<CrossoverPoint>& pts) {
  uint32_t from = 0;
  for (auto it = pts.rbegin(); it != pts.rend() && it->large_ms < it->small_ms; ++it) from = it->tokens;
  return from;
}

// Times both paths at every count (time_ms(T, large) gives one path's median) and finds the crossover.
void measure_points(CrossoverResult& c, const std::vector<uint32_t>& counts,
                    const std::function<void(const std::string&)>& progress,
                    const std::function<double(uint32_t, bool)>& time_ms) {
  for (uint32_t T : counts) {
    const CrossoverPoint p{T, time_ms(T, false), time_ms(T, true)};
    c.points.push_back(p);
    if (progress) {
      char buf[200];
      std::snprintf(buf, sizeof buf, "  %s crossover %u tokens: %s %.3f ms, %s %.3f ms", c.name.c_str(), T,
                    c.small_path.c_str(), p.small_ms, c.large_path.c_str(), p.large_ms);
      progress(buf);
    }
  }
  c.crossover = find_crossover(c.points);
}

CrossoverResult moe_crossover(Context& ctx, bool quick, int repeats, SplitMix& rng,
                              const std::function<void(const std::string&)>& progress) {
  // OLMoE's layer: many small experts (64, k = 8) like Qwen3-MoE and DeepSeek, no shared
  // expert, rows that are whole Q4_K blocks.
  const BenchShape s = quick ? BenchShape{"OLMoE-1B-7B/8", 256, 128, 64, 8, 0}
                             : BenchShape{"OLMoE-1B-7B", 2048, 1024, 64, 8, 0};
  // Up to 128: on lavapipe the crossover lies near 64 tokens for this shape.
  const std::vector<uint32_t> counts =
      quick ? std::vector<uint32_t>{1, 8, 32, 64, 128} : std::vector<uint32_t>{1, 2, 4, 8, 16, 32, 64, 128};
  MoeLayer layer(ctx, s, GgmlType::Q4_K, counts.back(), rng);
  CrossoverResult c{"moe", s.model + " experts, " + std::to_string(s.hidden) + " -> " + std::to_string(s.ffn) + ", " +
                               std::to_string(s.experts) + " experts, k = " + std::to_string(s.k) +
                               (layer.mixed_types() ? ", Q4_K gate/up, Q8_0 down" : ", Q4_K"),
                    "decode", "batched"};
  c.setting = "MoeSettings::batched_from_tokens (VKMOE_MOE_BATCHED_FROM)";
  measure_points(c, counts, progress, [&](uint32_t T, bool large) {
    const MoePath path = large ? MoePath::batched : MoePath::decode;
    return median_ms(time_runs(ctx, repeats, [&](Sequence& seq) { layer.record(seq, T, path); }), 1);  // no router
  });
  c.slots_per_expert = double(c.crossover) * s.k / s.experts;
  return c;
}

CrossoverResult matmul_crossover(Context& ctx, bool quick, int repeats, SplitMix& rng,
                                 const std::function<void(const std::string&)>& progress) {
  // A square attention projection (Qwen3-30B-A3B / OLMoE: 2048 x 2048); the vec kernel takes
  // at most 8 tokens, so only counts up to 8 can be compared.
  const uint32_t n = quick ? 1024 : 2048;
  const std::vector<uint32_t> counts = quick ? std::vector<uint32_t>{1, 4, 8} : std::vector<uint32_t>{1, 2, 4, 8};
  CrossoverResult c{"matmul", "dense matmul " + std::to_string(n) + " x " + std::to_string(n) + ", Q4_K", "vec", "tiled"};
  c.setting = "MatmulPath::automatic (vec up to MM_VEC_MAX_T = 8 tokens)";
  Buffer wb = make_weights(ctx, GgmlType::Q4_K, 1, n, n, rng, "bench dense");
  const DenseWeight w = make_dense_weight(ctx.device(), wb, 0, GgmlType::Q4_K, n, n);
  Buffer x = random_buffer(ctx, uint64_t(counts.back()) * n, rng, "bench dense x");
  Buffer y = ctx.allocator().create_buffer(uint64_t(counts.back()) * n * 4, MemoryUse::device, "bench dense y");
  measure_points(c, counts, progress, [&](uint32_t T, bool large) {
    const MatmulPath path = large ? MatmulPath::tiled : MatmulPath::vec;
    return median_ms(time_runs(ctx, repeats, [&](Sequence& seq) {
      record_matmul(ctx, seq, w, T, x.range(0, uint64_t(T) * n * 4), y.range(0, uint64_t(T) * n * 4), {.path = path});
    }));
  });
  return c;
}

// CPU seconds of this process so far (user + system; lavapipe's worker threads are ours).
double process_cpu_s() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// The cost of one round of `record` (key "") and of each label in it, from one recording of
// `copies` rounds: on a CPU device (lavapipe) the process CPU time of the run (a loaded machine
// stretches wall-clock time, not the work done), split over the labels by their GPU-time shares;
// elsewhere GPU time.
std::map<std::string, double> dispatch_costs_ms(Context& ctx, uint32_t copies, const std::function<void(Sequence&)>& record) {
  Sequence seq(ctx.device(), {.timestamps = true, .name = "bench rates"});
  for (uint32_t i = 0; i < copies; ++i) record(seq);
  const double c0 = process_cpu_s();
  seq.run();
  const double cpu_ms = (process_cpu_s() - c0) * 1e3;
  std::map<std::string, double> gpu;
  double total = 0;
  for (const auto& d : seq.timings()) {
    gpu[d.label] += d.ms;
    total += d.ms;
  }
  const bool cpu_device = ctx.device().caps().type == VK_PHYSICAL_DEVICE_TYPE_CPU;
  for (auto& [label, ms] : gpu) ms = (cpu_device && total > 0 ? cpu_ms * ms / total : ms) / copies;
  gpu[""] = (cpu_device ? cpu_ms : total) / copies;
  return gpu;
}

// --rates: each decode kernel's weights/s per type and token count at the reference shape, against
// the plain F32 matvec of the same shape. Each run measures, one after another, kRateCopies
// copies of the plain F32 and int8 matvecs, the dense matvec, the MoE layer (decode path) and its
// router alone: costs taken close in time, the ratio per run, then the median over runs.
void run_rates(Context& ctx, const KernelBenchOptions& opt, int repeats, KernelBenchReport& rep,
               const std::function<void(const std::string&)>& progress) {
  constexpr uint32_t kRateCopies = 6;
  const BenchShape s{"reference", 512, 512, 32, 4, 0};
  const uint32_t n = s.hidden;
  const std::vector<uint32_t> counts{1, 2, 4, 8};
  const std::vector<GgmlType> types =
      opt.types.empty() ? std::vector<GgmlType>{GgmlType::F32, GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_0,
                                                GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K}
                        : opt.types;
  SplitMix rng(777);
  Buffer x = random_buffer(ctx, uint64_t(counts.back()) * n, rng, "bench rates x");
  Buffer y = ctx.allocator().create_buffer(uint64_t(counts.back()) * n * 4, MemoryUse::device, "bench rates y");
  Buffer pw = random_buffer(ctx, uint64_t(n) * n, rng, "bench rates plain w");  // F32, or int8 bytes
  Buffer py = ctx.allocator().create_buffer(uint64_t(n) * 4, MemoryUse::device, "bench rates plain y");
  const double nn = double(n) * n;
  for (GgmlType type : types) {
    Buffer wb = make_weights(ctx, type, 1, n, n, rng, "bench rates dense");
    const DenseWeight w = make_dense_weight(ctx.device(), wb, 0, type, n, n);
    MoeLayer layer(ctx, s, type, counts.back(), rng);
    for (uint32_t T : counts) {
      const BufferRange xr = x.range(0, uint64_t(T) * n * 4), yr = y.range(0, uint64_t(T) * n * 4);
      const std::pair<const char*, uint64_t> cases[] = {{"matvec", uint64_t(n) * n},
                                                         {"moe_pair", uint64_t(s.k) * 3 * s.ffn * s.hidden},
                                                         {"moe_gate_up", uint64_t(s.k) * 2 * s.ffn * s.hidden},
                                                         {"moe_down", uint64_t(s.k) * s.ffn * s.hidden},
                                                         {"gate_up_solo", uint64_t(s.k) * 2 * s.ffn * s.hidden},
                                                         {"down_solo", uint64_t(s.k) * s.ffn * s.hidden}};
      std::map<std::string, std::vector<double>> ms, ratio;
      for (int r = 0; r <= repeats; ++r) {  // run 0 is warm-up (llvmpipe compiles on first use)
        const double f32_ms = dispatch_costs_ms(ctx, kRateCopies, [&](Sequence& seq) {
          record_plain_matvec(ctx, false, n, n, pw, x, py, seq);
        })[""];
        const double i8_ms = dispatch_costs_ms(ctx, kRateCopies, [&](Sequence& seq) {
          record_plain_matvec(ctx, true, n, n, pw, x, py, seq);
        })[""];
        const double dense_ms = dispatch_costs_ms(ctx, kRateCopies, [&](Sequence& seq) {
          record_matmul(ctx, seq, w, T, xr, yr, {.path = MatmulPath::vec});
        })[""];
        auto moe = dispatch_costs_ms(ctx, kRateCopies, [&](Sequence& seq) { layer.record(seq, T, MoePath::decode); });
        const double router_ms = dispatch_costs_ms(ctx, kRateCopies, [&](Sequence& seq) {
          layer.record(seq, T, MoePath::decode, false);
        })[""];
        // Each kernel of the pair alone (router + it, less the router): no GPU-time shares.
        std::map<std::string, double> solo;
        for (const auto& [stage, name] : {std::pair{1u, "gate_up_solo"}, std::pair{2u, "down_solo"}}) {
          layer.set_stages(stage);
          solo[name] = std::max(0.0, dispatch_costs_ms(ctx, kRateCopies, [&](Sequence& seq) {
                                   layer.record(seq, T, MoePath::decode);
                                 })[""] - router_ms);
        }
        layer.set_stages(3);
        if (r == 0) continue;
        ms["plain_f32"].push_back(f32_ms);
        ms["plain_i8"].push_back(i8_ms);
        // The MoE pair: the layer less the router run alone, split by the pair's GPU-time shares.
        const double pair_ms = std::max(0.0, moe[""] - router_ms), pair_gpu = moe["moe_gate_up"] + moe["moe_down"];
        for (const auto& [kernel, weights] : cases) {
          const std::string k = kernel;
          const double k_ms = k == "matvec"     ? dense_ms
                              : k == "moe_pair" ? pair_ms
                              : solo.count(k)   ? solo[k]
                                                : (pair_gpu > 0 ? pair_ms * moe[k] / pair_gpu : 0);
          ms[k].push_back(k_ms);
          ratio[k].push_back(k_ms > 0 && f32_ms > 0 ? (double(T) * weights / k_ms) / (nn / f32_ms) : 0);
        }
      }
      const double f32_ms = median_of(ms["plain_f32"]), i8_ms = median_of(ms["plain_i8"]);
      for (const auto& [kernel, weights] : cases) {
        KernelRate r{kernel, std::string(ggml_type_name(type)), T, median_of(ms[kernel]), weights};
        r.weights_per_s = r.ms > 0 ? double(T) * weights / (r.ms * 1e-3) : 0;
        r.plain_f32_wps = f32_ms > 0 ? nn / (f32_ms * 1e-3) : 0;
        r.plain_i8_wps = i8_ms > 0 ? nn / (i8_ms * 1e-3) : 0;
        r.times_plain_f32 = median_of(ratio[kernel]);
        const auto mm = std::minmax_element(ratio[kernel].begin(), ratio[kernel].end());
        r.ratio_min = *mm.first;
        r.ratio_max = *mm.second;
        rep.rates.push_back(r);
        if (progress) {
          char buf[160];
          std::snprintf(buf, sizeof buf, "  %s %s %u tokens: %.3f ms, %.1f Mw/s, %.2fx plain F32 [%.2f, %.2f]", kernel,
                        r.type.c_str(), T, r.ms, r.weights_per_s / 1e6, r.times_plain_f32, r.ratio_min, r.ratio_max);
          progress(buf);
        }
      }
    }
  }
}

std::string rates_table(const KernelBenchReport& r) {
  std::ostringstream o;
  char buf[200];
  o << "device: " << r.device << " (" << r.date << "), medians of " << r.repeats << " runs\n"
    << "reference shape: dense 512 x 512; MoE 512 wide, 32 experts of 512, top-4 (decode path)\n\n";
  std::snprintf(buf, sizeof buf, "%-12s %-5s %6s %9s %10s %10s %10s %7s %15s\n", "kernel", "type", "tokens", "ms",
                "Mw/s", "plainF32", "plainI8", "xF32", "xF32 [min,max]");
  o << buf;
  for (const auto& x : r.rates) {
    std::snprintf(buf, sizeof buf, "%-12s %-5s %6u %9.4f %10.1f %10.1f %10.1f %6.2fx    [%.2f, %.2f]\n",
                  x.kernel.c_str(), x.type.c_str(), x.tokens, x.ms, x.weights_per_s / 1e6, x.plain_f32_wps / 1e6,
                  x.plain_i8_wps / 1e6, x.times_plain_f32, x.ratio_min, x.ratio_max);
    o << buf;
  }
  o << "\nms: cost of one dispatch (CPU devices: the process CPU time of a run of 6 copies of it alone, so that\n"
       "other programs' load does not count; GPUs: GPU time). moe_pair: gate/up + down, the MoE layer less its\n"
       "router run alone; moe_gate_up / moe_down: the pair split by their GPU-time shares (less certain);\n"
       "gate_up_solo / down_solo: router + that kernel alone, less the router run alone.\n"
       "Mw/s = tokens x weights per token / ms; plainF32 / plainI8 = bench peak's plain matvecs at 512 x 512,\n"
       "measured in the same runs; xF32 = median over runs of Mw/s / plainF32, with its range\n";
  return o.str();
}

}  // namespace

std::vector<BenchShape> bench_shapes(bool quick) {
  // Quick: widths / 8 (Mixtral / 16), F rounded up to whole Q8_0 blocks of 32.
  if (quick)
    return {{"Mixtral-8x7B/16", 256, 896, 8, 2, 0},
            {"Qwen3-30B-A3B/8", 256, 96, 128, 8, 0},
            {"OLMoE-1B-7B/8", 256, 128, 64, 8, 0},
            {"DeepSeek-V2-Lite/8", 256, 192, 64, 6, 352}};
  return {{"Mixtral-8x7B", 4096, 14336, 8, 2, 0},
          {"Qwen3-30B-A3B", 2048, 768, 128, 8, 0},
          {"OLMoE-1B-7B", 2048, 1024, 64, 8, 0},
          {"DeepSeek-V2-Lite", 2048, 1408, 64, 6, 2816}};
}

KernelBenchReport run_kernel_bench(Context& ctx, const KernelBenchOptions& opt,
                                   const std::function<void(const std::string&)>& progress) {
  if (!ctx.device().features().timestamps)
    throw std::runtime_error(ctx.device().caps().name + " has no timestamp queries: GPU times cannot be measured");
  if (!opt.model.empty()) {  // a filter that matches nothing would run nothing and look like success
    std::string names;
    bool any = false;
    for (const auto& shape : bench_shapes(opt.quick)) {
      any = any || shape.model.find(opt.model) != std::string::npos;
      names += (names.empty() ? "" : ", ") + shape.model;
    }
    if (!any) throw std::invalid_argument("--model: no layer shape is named like '" + opt.model + "' (shapes: " + names + ")");
  }
  const int repeats = opt.repeats > 0 ? opt.repeats : opt.quick ? 3 : 5;
  KernelBenchReport rep;
  rep.device = ctx.device().caps().name;
  rep.date = today_utc();
  rep.quick = opt.quick;
  rep.repeats = repeats;
  if (opt.rates) {
    run_rates(ctx, opt, repeats, rep, progress);
    return rep;
  }
  rep.shapes_note = opt.quick ? "--quick: widths / 8 (Mixtral / 16), F rounded up to a multiple of 32; tokens 1, 8, 32"
                              : "real layer shapes; tokens 1, 8, 512";
  // The denominators, measured in the same run (runtime/bench/peak.h).
  rep.peak = run_peak(ctx, {.repeats = repeats}, progress);
  rep.bandwidth_gb_per_s = rep.peak.read_device_gbs.median;
  const std::vector<uint32_t> token_counts = opt.quick ? std::vector<uint32_t>{1, 8, 32} : std::vector<uint32_t>{1, 8, 512};
  SplitMix rng(12345);

  if (opt.layers)
    for (const auto& shape : bench_shapes(opt.quick)) {
      if (shape.model.find(opt.model) == std::string::npos) continue;
      const std::vector<GgmlType> types =
          opt.types.empty() ? std::vector<GgmlType>{GgmlType::Q4_K, GgmlType::Q8_0, GgmlType::F16} : opt.types;
      for (GgmlType want : types) {
        KernelBenchResult base{shape.model, std::string(ggml_type_name(want)), "", shape.hidden, shape.ffn,
                               shape.experts, shape.k};
        try {
          MoeLayer layer(ctx, shape, want, token_counts.back(), rng);
          if (layer.mixed_types()) base.note = "Q8_0 where rows are not whole blocks";
          for (uint32_t T : token_counts) {
            KernelBenchResult res = base;
            res.tokens = T;
            const Runs runs = time_runs(ctx, repeats, [&](Sequence& seq) { layer.record(seq, T, MoePath::automatic); });
            res.router_ms = median_ms(runs, 0, 1);
            res.experts_ms = median_ms(runs, 1);
            res.total_ms = median_ms(runs);
            res.dispatches = runs.dispatches;
            res.bytes = layer.bytes(T, &res.experts_touched, &res.weights);
            res.weights_per_s = res.total_ms > 0 ? res.weights / (res.total_ms * 1e-3) : 0;
            const double plain = rep.peak.matvec_f32_wps.median;
            res.times_plain_f32 = plain > 0 ? res.weights_per_s / plain : 0;
            res.gb_per_s = res.total_ms > 0 ? res.bytes / (res.total_ms * 1e6) : 0;
            res.percent_of_bandwidth = rep.bandwidth_gb_per_s > 0 ? 100.0 * res.gb_per_s / rep.bandwidth_gb_per_s : 0;
            rep.results.push_back(res);
            if (progress) {
              char buf[200];
              std::snprintf(buf, sizeof buf, "  %s %s %u tokens: %.3f ms", res.model.c_str(), res.type.c_str(), T, res.total_ms);
              progress(buf);
            }
          }
        } catch (const std::exception& e) {
          // A case the device cannot hold is reported, never fatal.
          KernelBenchResult res = base;
          res.note = std::string("skipped: ") + e.what();
          res.skipped = true;
          rep.results.push_back(res);
          if (progress) progress("  " + res.model + " " + res.type + " " + res.note);
        }
      }
    }

  if (opt.crossover) {
    rep.crossovers.push_back(moe_crossover(ctx, opt.quick, repeats, rng, progress));
    rep.crossovers.push_back(matmul_crossover(ctx, opt.quick, repeats, rng, progress));
  }
  return rep;
}

std::string kernel_bench_table(const KernelBenchReport& r) {
  if (!r.rates.empty()) return rates_table(r);
  std::ostringstream o;
  char buf[256];
  o << "bench peak, the denominators, measured in this run:\n" << peak_table(r.peak) << "\n";
  o << "device: " << r.device << " (" << r.date << ")\nmeasured read bandwidth: " << r.bandwidth_gb_per_s
    << " GB/s\nmedians of " << r.repeats << " timed runs\n";
  if (!r.results.empty()) {
    o << "shapes: " << r.shapes_note << "\n\n";
    std::snprintf(buf, sizeof buf, "%-20s %-5s %6s %9s %9s %9s %10s %6s %8s %6s %8s %6s %4s\n", "model", "type", "tokens",
                  "router", "experts", "total", "bytes", "exp", "GB/s", "%bw", "Mw/s", "xF32", "disp");
    o << buf;
    for (const auto& x : r.results) {
      if (x.skipped) {
        o << x.model << " " << x.type << ": " << x.note << "\n";
        continue;
      }
      std::snprintf(buf, sizeof buf, "%-20s %-5s %6u %7.3fms %7.3fms %7.3fms %9.1fM %6u %8.2f %5.1f%% %8.1f %5.2fx %4u%s\n",
                    x.model.c_str(), x.type.c_str(), x.tokens, x.router_ms, x.experts_ms, x.total_ms, x.bytes / 1e6,
                    x.experts_touched, x.gb_per_s, x.percent_of_bandwidth, x.weights_per_s / 1e6, x.times_plain_f32,
                    x.dispatches, x.note.empty() ? "" : " *");
      o << buf;
    }
    o << "\nmedian GPU time of each case from timestamps; bytes = router weights + input + each distinct chosen expert\n"
         "once + shared experts; exp = distinct experts chosen; * = Q8_0 where rows are not whole 256-blocks\n"
         "Mw/s = those bytes' weights per second; xF32 = that over bench peak's plain F32 matvec (same run)\n";
  }
  for (const auto& c : r.crossovers) {
    o << "\ncrossover, " << c.name << ": " << c.shape << " (median GPU ms)\n";
    std::snprintf(buf, sizeof buf, "%6s %10s %10s %8s\n", "tokens", c.small_path.c_str(), c.large_path.c_str(), "ratio");
    o << buf;
    for (const auto& p : c.points) {
      std::snprintf(buf, sizeof buf, "%6u %10.3f %10.3f %7.2fx\n", p.tokens, p.small_ms, p.large_ms,
                    p.small_ms > 0 ? p.large_ms / p.small_ms : 0.0);
      o << buf;
    }
    if (c.crossover) {
      o << c.large_path << " is faster from " << c.crossover << " tokens on";
      if (c.slots_per_expert > 0) o << " (" << c.slots_per_expert << " slots per expert: tokens * k / experts)";
      o << "; runtime setting: " << c.setting << "\n";
    }
    else
      o << c.small_path << " is faster at every measured count: the crossover lies past " << c.points.back().tokens
        << " tokens; runtime setting: " << c.setting << "\n";
  }
  return o.str();
}

std::string kernel_bench_json(const KernelBenchReport& r) {
  nlohmann::ordered_json j;
  j["device"] = r.device;
  j["date"] = r.date;
  j["bandwidth_gb_per_s"] = r.bandwidth_gb_per_s;
  j["peak"] = peak_json_object(r.peak);
  j["quick"] = r.quick;
  j["repeats"] = r.repeats;
  j["shapes"] = r.shapes_note;
  auto arr = nlohmann::ordered_json::array();
  for (const auto& x : r.results)
    arr.push_back({{"model", x.model}, {"type", x.type}, {"hidden", x.hidden}, {"ffn", x.ffn}, {"experts", x.experts},
                   {"k", x.k}, {"tokens", x.tokens}, {"router_ms", x.router_ms}, {"experts_ms", x.experts_ms},
                   {"total_ms", x.total_ms}, {"bytes", x.bytes}, {"experts_touched", x.experts_touched},
                   {"dispatches", x.dispatches}, {"gb_per_s", x.gb_per_s}, {"percent_of_bandwidth", x.percent_of_bandwidth},
                   {"weights", x.weights}, {"weights_per_s", x.weights_per_s}, {"times_plain_f32_matvec", x.times_plain_f32},
                   {"skipped", x.skipped}, {"note", x.note}});
  j["results"] = arr;
  auto cs = nlohmann::ordered_json::array();
  for (const auto& c : r.crossovers) {
    auto pts = nlohmann::ordered_json::array();
    for (const auto& p : c.points)
      pts.push_back({{"tokens", p.tokens}, {c.small_path + "_ms", p.small_ms}, {c.large_path + "_ms", p.large_ms}});
    cs.push_back({{"name", c.name}, {"shape", c.shape}, {"points", pts},
                  {"crossover_tokens", c.crossover ? nlohmann::ordered_json(c.crossover) : nlohmann::ordered_json(nullptr)},
                  {"slots_per_expert", c.slots_per_expert},
                  {"setting", c.setting}});
  }
  j["crossovers"] = cs;
  return j.dump(2);
}

}  // namespace vkmoe

namespace vkmoe {

std::vector<GgmlType> parse_bench_types(const std::string& list) {
  auto lower = [](std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  std::vector<GgmlType> all, out;
  for (uint32_t n = 0; n < 64; ++n)
    if (auto info = ggml_type_info(n); info && type_supported(info->type)) all.push_back(info->type);
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const std::string want = lower(item);
    if (want == "all" || want == "new") {
      for (GgmlType t : all)  // "new": beyond the first eight types (F32..Q6_K, BF16)
        if (want == "all" || !(t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16 || t == GgmlType::Q8_0 ||
                               t == GgmlType::Q4_0 || t == GgmlType::Q4_K || t == GgmlType::Q5_K || t == GgmlType::Q6_K))
          out.push_back(t);
      continue;
    }
    auto it = std::find_if(all.begin(), all.end(), [&](GgmlType t) { return lower(std::string(ggml_type_name(t))) == want; });
    if (it == all.end())
      throw std::invalid_argument("--types: '" + item + "' is not a weight type the kernels take (e.g. q4_K, iq4_xs, new, all)");
    out.push_back(*it);
  }
  if (out.empty()) throw std::invalid_argument("--types: no type given");
  return out;
}

}  // namespace vkmoe
