#include "runtime/kernels/selfcheck.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "runtime/kernels/basic.h"
#include "runtime/vk/context.h"
#include "runtime/vk/sequence.h"

namespace vkmoe {

SelfCheckResult run_self_check(Context& ctx) {
  SelfCheckResult out;
  auto line = [&](bool ok, const std::string& text) {
    out.ok = out.ok && ok;
    out.lines.push_back(std::string(ok ? "PASS " : "FAIL ") + text);
  };
  std::mt19937 rng(std::random_device{}());
  char buf[256];

  // Reduction of 1M random floats against a double-precision CPU sum, for every variant.
  const uint64_t n = 1u << 20;
  std::vector<float> x(n);
  std::uniform_real_distribution<float> d(-1, 1);
  double ref = 0;
  for (auto& v : x) ref += (v = d(rng));
  double ref_abs = 0;
  for (auto v : x) ref_abs += std::fabs(v);
  Buffer xb = ctx.allocator().create_buffer(n * 4, MemoryUse::device, "selfcheck x");
  Buffer pb = ctx.allocator().create_buffer(reduce_partials(n) * 4ull, MemoryUse::device, "selfcheck partials");
  ctx.transfer().upload(xb, 0, x.data(), n * 4);
  for (const auto* variant : ctx.pipelines().supported_variants("reduce_sum")) {
    Sequence seq(ctx.device(), {.timestamps = ctx.device().features().timestamps, .name = "selfcheck"});
    uint32_t parts = record_reduce_sum(ctx, seq, xb, n, pb, variant->name);
    auto t0 = std::chrono::steady_clock::now();
    seq.run();
    double wall = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::vector<float> partial(parts);
    ctx.transfer().download(pb, 0, partial.data(), parts * 4ull);
    double sum = 0;
    for (float p : partial) sum += p;
    double err = std::fabs(sum - ref) / ref_abs;  // relative to the sum of magnitudes
    double gpu_ms = seq.timings().empty() ? wall : seq.timings()[0].ms;
    std::snprintf(buf, sizeof buf, "%-16s sum of %llu floats: error %.2e of sum|x| (limit 1e-5), %.3f ms, %.2f GB/s",
                  variant->name, static_cast<unsigned long long>(n), err, gpu_ms, n * 4 / (gpu_ms * 1e6));
    line(err < 1e-5, buf);
  }

  // A transform split into several bindings (more than one when the data exceeds one binding).
  const uint64_t words = 3u << 20;
  std::vector<uint32_t> in(words), back(words, 0);
  for (auto& w : in) w = static_cast<uint32_t>(rng());
  Buffer a = ctx.allocator().create_buffer(words * 4, MemoryUse::device, "selfcheck a");
  Buffer b = ctx.allocator().create_buffer(words * 4, MemoryUse::device, "selfcheck b");
  ctx.transfer().upload(a, 0, in.data(), words * 4);
  Sequence seq(ctx.device(), {.name = "selfcheck"});
  uint32_t dispatches = record_scale_add_u32(ctx, seq, a, b, words, 2654435761u, 12345u);
  seq.run();
  ctx.transfer().download(b, 0, back.data(), words * 4);
  uint64_t bad = 0;
  for (uint64_t i = 0; i < words; ++i) bad += back[i] != in[i] * 2654435761u + 12345u;
  std::snprintf(buf, sizeof buf, "scale_add_u32    %llu words in %u dispatch(es): %llu wrong",
                static_cast<unsigned long long>(words), dispatches, static_cast<unsigned long long>(bad));
  line(bad == 0, buf);
  return out;
}

}  // namespace vkmoe
