#include "runtime/bench/kernel_bench.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "runtime/kernels/basic.h"
#include "runtime/kernels/moe_experts.h"
#include "runtime/kernels/router.h"
#include "runtime/model/synthetic_model.h"
#include "runtime/quant/quant.h"
#include "runtime/vk/context.h"
#include "runtime/vk/sequence.h"

namespace vkmoe {

namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

// A type GGUF writers would use for a row of `cols`: K-quants need whole 256-blocks, so files
// fall back to Q8_0 where they do not fit (llama.cpp does the same).
GgmlType row_type(GgmlType want, uint32_t cols) {
  auto info = ggml_type_info(static_cast<uint32_t>(want));
  return cols % info->block_elems == 0 ? want : GgmlType::Q8_0;
}

// One expert tensor [cols, rows, experts] of valid blocks: one expert quantized from random
// data and repeated (quantizing gigabytes on the CPU would dominate the run).
Buffer make_weights(Context& ctx, GgmlType type, uint32_t experts, uint32_t rows, uint32_t cols, SplitMix& rng,
                    const std::string& name) {
  std::vector<float> one(static_cast<size_t>(rows) * cols);
  for (auto& v : one) v = rng.uniform(-0.05f, 0.05f);
  std::vector<uint8_t> bytes = type == GgmlType::F32 ? std::vector<uint8_t>(one.size() * 4) : quantize(type, one);
  if (type == GgmlType::F32) std::memcpy(bytes.data(), one.data(), bytes.size());
  const uint64_t per = bytes.size();
  Buffer b = ctx.allocator().create_buffer((per * experts + 15) / 16 * 16, MemoryUse::device, name);
  for (uint32_t e = 0; e < experts; ++e) ctx.transfer().upload(b, per * e, bytes.data(), per);
  return b;
}

}  // namespace

std::vector<BenchShape> bench_shapes(bool quick) {
  if (quick)
    return {{"Mixtral-8x7B/4", 1024, 3584, 8, 2, 0},
            {"Qwen3-30B-A3B/4", 512, 256, 128, 8, 0},
            {"OLMoE-1B-7B/4", 512, 256, 64, 8, 0},
            {"DeepSeek-V2-Lite/4", 512, 352, 64, 6, 704}};
  return {{"Mixtral-8x7B", 4096, 14336, 8, 2, 0},
          {"Qwen3-30B-A3B", 2048, 768, 128, 8, 0},
          {"OLMoE-1B-7B", 2048, 1024, 64, 8, 0},
          {"DeepSeek-V2-Lite", 2048, 1408, 64, 6, 2816}};
}

double measure_read_bandwidth(Context& ctx, int repeats, uint64_t* bytes_used) {
  const auto& caps = ctx.device().caps();
  const uint64_t n = std::min<uint64_t>(caps.max_storage_buffer_range, 256ull << 20) / 4;
  Buffer x = ctx.allocator().create_buffer(n * 4, MemoryUse::device, "bandwidth probe");
  Buffer parts = ctx.allocator().create_buffer(reduce_partials(n) * 4ull, MemoryUse::device, "bandwidth partials");
  Sequence fill(ctx.device());
  fill.fill(x.range(), 0x3f800000u);
  fill.run();
  std::vector<double> gbps;
  for (int r = 0; r < repeats + 1; ++r) {
    Sequence seq(ctx.device(), {.timestamps = true, .name = "bandwidth"});
    record_reduce_sum(ctx, seq, x, n, parts);
    seq.run();
    if (r == 0) continue;  // the first run warms up caches and clocks
    gbps.push_back(n * 4.0 / (seq.timings()[0].ms * 1e6));
  }
  if (bytes_used) *bytes_used = n * 4;
  return median(gbps);
}

KernelBenchReport run_kernel_bench(Context& ctx, const KernelBenchOptions& opt,
                                   const std::function<void(const KernelBenchResult&)>& on_result) {
  if (!ctx.device().features().timestamps)
    throw std::runtime_error(ctx.device().caps().name + " has no timestamp queries: GPU times cannot be measured");
  KernelBenchReport rep;
  rep.device = ctx.device().caps().name;
  rep.quick = opt.quick;
  rep.shapes_note = opt.quick ? "--quick: hidden and expert widths divided by 4; tokens 1, 8, 64"
                              : "real layer shapes; tokens 1, 8, 512";
  rep.bandwidth_gb_per_s = measure_read_bandwidth(ctx, opt.repeats);
  const std::vector<uint32_t> token_counts = opt.quick ? std::vector<uint32_t>{1, 8, 64} : std::vector<uint32_t>{1, 8, 512};
  SplitMix rng(12345);

  for (const auto& shape : bench_shapes(opt.quick))
    for (GgmlType want : {GgmlType::Q4_K, GgmlType::Q8_0, GgmlType::F16}) {
      const uint32_t H = shape.hidden, F = shape.ffn, E = shape.experts;
      const GgmlType tg = row_type(want, H), td = row_type(want, F);
      std::string note;
      if (tg != want || td != want) note = "Q8_0 where rows are not whole 256-blocks";
      try {
        Buffer gate = make_weights(ctx, tg, E, F, H, rng, "bench gate");
        Buffer up = make_weights(ctx, tg, E, F, H, rng, "bench up");
        Buffer down = make_weights(ctx, td, E, H, F, rng, "bench down");
        MoeFfnWeights w{make_expert_tensor(ctx.device(), gate, 0, tg, E, F, H),
                        make_expert_tensor(ctx.device(), up, 0, tg, E, F, H),
                        make_expert_tensor(ctx.device(), down, 0, td, E, H, F)};
        Buffer sgate, sup, sdown;
        MoeFfnWeights sw;
        if (shape.shared_ffn) {
          const GgmlType sd = row_type(want, shape.shared_ffn);
          sgate = make_weights(ctx, tg, 1, shape.shared_ffn, H, rng, "bench shared gate");
          sup = make_weights(ctx, tg, 1, shape.shared_ffn, H, rng, "bench shared up");
          sdown = make_weights(ctx, sd, 1, H, shape.shared_ffn, rng, "bench shared down");
          sw = {make_expert_tensor(ctx.device(), sgate, 0, tg, 1, shape.shared_ffn, H),
                make_expert_tensor(ctx.device(), sup, 0, tg, 1, shape.shared_ffn, H),
                make_expert_tensor(ctx.device(), sdown, 0, sd, 1, H, shape.shared_ffn)};
        }
        std::vector<float> rw(static_cast<size_t>(E) * H);
        for (auto& v : rw) v = rng.uniform(-1, 1);
        Buffer router_w = ctx.allocator().create_buffer(rw.size() * 4, MemoryUse::device, "bench router");
        ctx.transfer().upload(router_w, 0, rw.data(), rw.size() * 4);
        const uint32_t Tmax = token_counts.back();
        std::vector<float> xs(static_cast<size_t>(Tmax) * H);
        for (auto& v : xs) v = rng.uniform(-1, 1);
        Buffer x = ctx.allocator().create_buffer(xs.size() * 4, MemoryUse::device, "bench x");
        ctx.transfer().upload(x, 0, xs.data(), xs.size() * 4);
        Buffer ids = ctx.allocator().create_buffer(static_cast<uint64_t>(Tmax) * shape.k * 4, MemoryUse::device, "bench ids");
        Buffer wts = ctx.allocator().create_buffer(static_cast<uint64_t>(Tmax) * shape.k * 4, MemoryUse::device, "bench weights");
        Buffer out = ctx.allocator().create_buffer(xs.size() * 4, MemoryUse::device, "bench out");
        MoeScratch scratch = create_moe_scratch(
            ctx, {.tokens = Tmax, .k = shape.k, .experts = E, .hidden = H, .ffn = std::max(F, shape.shared_ffn)});
        RouterConfig rc{.gating = Gating::softmax_topk, .experts = E, .k = shape.k, .renormalize = true};

        for (uint32_t T : token_counts) {
          KernelBenchResult res{shape.model, std::string(ggml_type_name(want)), note, H, F, E, shape.k, T};
          std::vector<double> router_ms, experts_ms, total_ms;
          for (int r = 0; r < opt.repeats + 1; ++r) {
            Sequence seq(ctx.device(), {.timestamps = true, .name = "bench"});
            record_router(ctx, seq, rc, {GgmlType::F32, router_w.range()}, T, H, x.range(0, T * H * 4ull),
                          {ids.range(0, T * shape.k * 4ull), wts.range(0, T * shape.k * 4ull)});
            record_moe_experts(ctx, seq, w, T, shape.k, x.range(0, T * H * 4ull), ids.range(0, T * shape.k * 4ull),
                               wts.range(0, T * shape.k * 4ull), out.range(0, T * H * 4ull), scratch);
            if (shape.shared_ffn)
              record_shared_expert(ctx, seq, sw, T, x.range(0, T * H * 4ull), std::nullopt, out.range(0, T * H * 4ull),
                                   scratch, MoePath::automatic, true);
            seq.run();
            if (r == 0) continue;  // JIT and warm-up
            const auto t = seq.timings();
            double router = t.empty() ? 0 : t[0].ms, total = 0;
            for (const auto& d : t) total += d.ms;
            router_ms.push_back(router);
            experts_ms.push_back(total - router);
            total_ms.push_back(total);
            res.dispatches = seq.dispatches();
          }
          res.router_ms = median(router_ms);
          res.experts_ms = median(experts_ms);
          res.total_ms = median(total_ms);
          // Bytes: the router's weights and input, each distinct chosen expert once, shared experts.
          std::vector<uint32_t> chosen(static_cast<size_t>(T) * shape.k);
          ctx.transfer().download(ids, 0, chosen.data(), chosen.size() * 4);
          std::set<uint32_t> distinct(chosen.begin(), chosen.end());
          distinct.erase(kMoeEmptySlot);
          res.experts_touched = static_cast<uint32_t>(distinct.size());
          const uint64_t expert_bytes = 2 * ggml_row_bytes(tg, H) * F + ggml_row_bytes(td, F) * H;
          res.bytes = static_cast<uint64_t>(E) * H * 4 + static_cast<uint64_t>(T) * H * 4 + distinct.size() * expert_bytes;
          if (shape.shared_ffn)
            res.bytes += 2 * ggml_row_bytes(tg, H) * shape.shared_ffn + ggml_row_bytes(row_type(want, shape.shared_ffn), shape.shared_ffn) * H;
          res.gb_per_s = res.total_ms > 0 ? res.bytes / (res.total_ms * 1e6) : 0;
          res.percent_of_bandwidth = rep.bandwidth_gb_per_s > 0 ? 100.0 * res.gb_per_s / rep.bandwidth_gb_per_s : 0;
          rep.results.push_back(res);
          if (on_result) on_result(res);
        }
      } catch (const std::exception& e) {
        KernelBenchResult res{shape.model, std::string(ggml_type_name(want)), std::string("skipped: ") + e.what(), H, F, E, shape.k, 0};
        res.skipped = true;
        rep.results.push_back(res);
        if (on_result) on_result(res);
      }
    }
  return rep;
}

std::string kernel_bench_table(const KernelBenchReport& r) {
  std::ostringstream o;
  char buf[256];
  o << "device: " << r.device << "\nmeasured read bandwidth: " << r.bandwidth_gb_per_s << " GB/s\nshapes: " << r.shapes_note
    << "\n\n";
  std::snprintf(buf, sizeof buf, "%-20s %-5s %6s %9s %9s %9s %10s %6s %8s %6s %4s\n", "model", "type", "tokens", "router",
                "experts", "total", "bytes", "exp", "GB/s", "%bw", "disp");
  o << buf;
  for (const auto& x : r.results) {
    if (x.skipped) {
      o << x.model << " " << x.type << ": " << x.note << "\n";
      continue;
    }
    std::snprintf(buf, sizeof buf, "%-20s %-5s %6u %7.3fms %7.3fms %7.3fms %9.1fM %6u %8.2f %5.1f%% %4u%s\n", x.model.c_str(),
                  x.type.c_str(), x.tokens, x.router_ms, x.experts_ms, x.total_ms, x.bytes / 1e6, x.experts_touched,
                  x.gb_per_s, x.percent_of_bandwidth, x.dispatches, x.note.empty() ? "" : " *");
    o << buf;
  }
  o << "\nmedian GPU time of " << "each case from timestamps; bytes = router weights + input + each distinct chosen expert once\n"
       "+ shared experts; exp = distinct experts chosen; * = Q8_0 where rows are not whole 256-blocks\n";
  return o.str();
}

std::string kernel_bench_json(const KernelBenchReport& r) {
  nlohmann::ordered_json j;
  j["device"] = r.device;
  j["bandwidth_gb_per_s"] = r.bandwidth_gb_per_s;
  j["quick"] = r.quick;
  j["shapes"] = r.shapes_note;
  auto arr = nlohmann::ordered_json::array();
  for (const auto& x : r.results)
    arr.push_back({{"model", x.model}, {"type", x.type}, {"hidden", x.hidden}, {"ffn", x.ffn}, {"experts", x.experts},
                   {"k", x.k}, {"tokens", x.tokens}, {"router_ms", x.router_ms}, {"experts_ms", x.experts_ms},
                   {"total_ms", x.total_ms}, {"bytes", x.bytes}, {"experts_touched", x.experts_touched},
                   {"dispatches", x.dispatches}, {"gb_per_s", x.gb_per_s}, {"percent_of_bandwidth", x.percent_of_bandwidth},
                   {"skipped", x.skipped}, {"note", x.note}});
  j["results"] = arr;
  return j.dump(2);
}

}  // namespace vkmoe
