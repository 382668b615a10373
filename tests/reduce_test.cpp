// The foundation's reference compute shader: a float reduction, every variant the device
// runs, against a double-precision CPU sum on fresh random data of awkward sizes.
#include <doctest/doctest.h>

#include <cmath>

#include "runtime/kernels/basic.h"
#include "runtime/kernels/selfcheck.h"
#include "runtime/vk/sequence.h"
#include "tests/gpu_fixture.h"
#include "tests/test_util.h"

using namespace vkmoe;
using namespace vkmoe::test;

TEST_CASE_FIXTURE(GpuTest, "reduce_sum matches a double-precision CPU sum") {
  auto variants = ctx.pipelines().supported_variants("reduce_sum");
  REQUIRE(!variants.empty());
  CHECK(std::string(variants.back()->needs).empty());  // a portable variant always exists
  for (uint64_t n : {1ull, 7ull, 255ull, 256ull, 16385ull, 1000003ull}) {
    auto x = random_floats(n);
    double ref = 0, mag = 0;
    for (float v : x) ref += v, mag += std::fabs(v);
    Buffer xb = ctx.allocator().create_buffer(n * 4, MemoryUse::device, "x");
    Buffer pb = ctx.allocator().create_buffer(reduce_partials(n) * 4ull, MemoryUse::device, "partials");
    ctx.transfer().upload(xb, 0, x.data(), n * 4);
    for (const auto* v : variants) {
      CAPTURE(n);
      CAPTURE(v->name);
      Sequence seq(ctx.device());
      seq.fill(pb.range(), kPoisonBits);
      uint32_t parts = record_reduce_sum(ctx, seq, xb, n, pb, v->name);
      seq.run();
      std::vector<float> partial(parts);
      ctx.transfer().download(pb, 0, partial.data(), parts * 4ull);
      double sum = 0;
      for (float p : partial) sum += p;
      REQUIRE(std::isfinite(sum));
      CHECK(std::fabs(sum - ref) <= 1e-6 * mag + 1e-30);
    }
  }
}

TEST_CASE_FIXTURE(GpuTest, "the self-check passes") {
  // The README's first command runs this on the user's device.
  ctx.transfer().force_staging = false;
  auto result = run_self_check(ctx);
  for (const auto& line : result.lines) MESSAGE(line);
  CHECK(result.ok);
}
