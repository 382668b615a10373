#include <doctest/doctest.h>

#include <cstring>

#include "runtime/kernels/basic.h"
#include "shaders/kernel_params.h"
#include "runtime/vk/sequence.h"
#include "tests/gpu_fixture.h"
#include "tests/test_util.h"

using namespace vkmoe;
using namespace vkmoe::test;

namespace {
std::vector<uint32_t> random_words(size_t n) {
  std::vector<uint32_t> v(n);
  for (auto& w : v) w = static_cast<uint32_t>(rng()());
  return v;
}
}  // namespace

TEST_CASE_FIXTURE(GpuTest, "a round trip larger than maxStorageBufferRange is split into bindings") {
  const auto& caps = ctx.device().caps();
  // 1.5x the binding limit (192 MiB on lavapipe), and an odd word count so the last piece is ragged.
  const uint64_t words = caps.max_storage_buffer_range * 3 / 2 / 4 + 7;
  INFO("words: " << words << ", maxStorageBufferRange: " << caps.max_storage_buffer_range);
  auto in = random_words(words);
  Buffer x = ctx.allocator().create_buffer(words * 4, MemoryUse::device, "big x");
  Buffer y = ctx.allocator().create_buffer(words * 4, MemoryUse::device, "big y");
  const uint32_t mul = static_cast<uint32_t>(rng()()) | 1u, add = static_cast<uint32_t>(rng()());

  for (bool staged : {false, true}) {
    CAPTURE(staged);
    ctx.transfer().force_staging = staged;
    uint64_t staged_before = ctx.transfer().staged_bytes();
    ctx.transfer().upload(x, 0, in.data(), words * 4);
    // Poison the output so a piece the kernel skipped cannot pass.
    Sequence seq(ctx.device());
    seq.fill(y.range(), kPoisonBits);
    uint32_t dispatches = record_scale_add_u32(ctx, seq, x, y, words, mul, add);
    CHECK(dispatches >= 2);  // the data did not fit one binding
    seq.run();
    std::vector<uint32_t> out(words, 0);
    ctx.transfer().download(y, 0, out.data(), words * 4);
    ctx.transfer().force_staging = false;
    if (staged) CHECK(ctx.transfer().staged_bytes() - staged_before == 2 * words * 4);
    uint64_t bad = 0, first_bad = UINT64_MAX;
    for (uint64_t i = 0; i < words; ++i)
      if (out[i] != in[i] * mul + add) {
        ++bad;
        first_bad = std::min(first_bad, i);
      }
    CHECK_MESSAGE(bad == 0, bad << " wrong words, first at " << first_bad);
  }
}

TEST_CASE_FIXTURE(GpuTest, "upload and download at offsets through the staging ring") {
  ctx.transfer().force_staging = true;
  const uint64_t n = ctx.transfer().chunk_bytes() * 2 + 12345;  // three chunks, the last partial
  Buffer b = ctx.allocator().create_buffer(n + 64, MemoryUse::device, "offsets");
  std::vector<uint8_t> data(n), back(n);
  for (auto& v : data) v = static_cast<uint8_t>(rng()());
  ctx.transfer().upload(b, 64, data.data(), n);
  ctx.transfer().download(b, 64, back.data(), n);
  ctx.transfer().force_staging = false;
  CHECK(std::memcmp(data.data(), back.data(), n) == 0);
  CHECK_THROWS_WITH(ctx.transfer().upload(b, 65, data.data(), n), doctest::Contains("runs past buffer 'offsets'"));
}

TEST_CASE_FIXTURE(GpuTest, "buffers are sub-allocated from a few large blocks") {
  auto before = ctx.allocator().stats();
  std::vector<Buffer> buffers;
  for (int i = 0; i < 200; ++i)
    buffers.push_back(ctx.allocator().create_buffer(4096 + 4 * i, MemoryUse::device, "small " + std::to_string(i)));
  auto during = ctx.allocator().stats();
  CHECK(during.blocks.size() <= before.blocks.size() + 1);  // 200 buffers, at most one new block
  CHECK(during.used >= before.used + 200 * 4096);
  // Every buffer's bytes are distinct: write a tag into each through its mapping or a copy.
  for (size_t i = 0; i < buffers.size(); ++i) {
    uint32_t tag = static_cast<uint32_t>(i * 2654435761u);
    ctx.transfer().upload(buffers[i], 0, &tag, 4);
  }
  for (size_t i = 0; i < buffers.size(); ++i) {
    uint32_t tag = 0;
    ctx.transfer().download(buffers[i], 0, &tag, 4);
    CHECK(tag == static_cast<uint32_t>(i * 2654435761u));
  }
  buffers.clear();
  CHECK(ctx.allocator().stats().used == before.used);
}

TEST_CASE_FIXTURE(GpuTest, "a binding beyond the device limit or the buffer is refused with numbers") {
  const auto& caps = ctx.device().caps();
  Buffer b = ctx.allocator().create_buffer(caps.max_storage_buffer_range + 4096, MemoryUse::device, "over");
  const auto& pipe = ctx.pipelines().get({.kernel = "scale_add_u32", .bindings = 2, .push_size = 16});
  Sequence seq(ctx.device());
  uint32_t push[4] = {};
  CHECK_THROWS_WITH(seq.dispatch(pipe, {{b.range(), Access::read}, {b.range(0, 4096), Access::write}}, push, 1),
                    doctest::Contains("one storage binding may cover"));
  CHECK_THROWS_WITH(b.range(4096, caps.max_storage_buffer_range + 1), doctest::Contains("exceeds its"));
  CHECK_THROWS_WITH(ctx.allocator().create_buffer(caps.max_memory_allocation_size + 1, MemoryUse::device, "huge"),
                    doctest::Contains("allows at most"));
}

TEST_CASE_FIXTURE(GpuTest, "barriers go exactly where one command depends on another") {
  const auto& pipe = ctx.pipelines().get({.kernel = "scale_add_u32", .bindings = 2, .push_size = 16});
  Buffer a = ctx.allocator().create_buffer(4096, MemoryUse::device, "a");
  Buffer b = ctx.allocator().create_buffer(4096, MemoryUse::device, "b");
  Buffer c = ctx.allocator().create_buffer(4096, MemoryUse::device, "c");
  std::vector<uint32_t> in = random_words(1024);
  ctx.transfer().upload(a, 0, in.data(), 4096);
  ScaleAddParams p1{1024, 3, 1, 0}, p2{1024, 5, 7, 0};
  Sequence seq(ctx.device(), {.timestamps = ctx.device().features().timestamps});
  seq.dispatch(pipe, {{a.range(), Access::read}, {b.range(0, 2048), Access::write}}, &p1, 2);
  seq.dispatch(pipe, {{a.range(2048, 2048), Access::read}, {b.range(2048, 2048), Access::write}}, &p1, 2);
  CHECK(seq.barriers() == 0);  // disjoint halves of b: independent
  seq.dispatch(pipe, {{b.range(), Access::read}, {c.range(), Access::write}}, &p2, 4);
  CHECK(seq.barriers() == 1);  // reads what the first two wrote
  seq.run();
  std::vector<uint32_t> out(1024);
  ctx.transfer().download(c, 0, out.data(), 4096);
  for (size_t i = 0; i < 1024; ++i) REQUIRE(out[i] == (in[i] * 3 + 1) * 5 + 7);
  if (ctx.device().features().timestamps) {
    auto t = seq.timings();
    REQUIRE(t.size() == 3);
    for (const auto& d : t) CHECK(d.ms >= 0);
  }
}
