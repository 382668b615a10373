// Proves the validation layer is on in GPU tests and that an error it reports fails a test.
#include <doctest/doctest.h>

#include "runtime/vk/check.h"
#include "runtime/vk/sequence.h"
#include "tests/gpu_fixture.h"

using namespace vkmoe;
using namespace vkmoe::test;

namespace {
// Provokes a validation error on purpose: a buffer with no usage flags is invalid
// (VUID-VkBufferCreateInfo-usage-requiredbitmask) but harmless to every driver.
void provoke_validation_error(Context& ctx) {
  VkBufferCreateInfo info{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  info.size = 16;
  info.usage = 0;
  VkBuffer buffer = VK_NULL_HANDLE;
  VK_CHECK(vkCreateBuffer(ctx.device().get(), &info, nullptr, &buffer));
  vkDestroyBuffer(ctx.device().get(), buffer, nullptr);
}
}  // namespace

TEST_CASE("the Khronos validation layer is active in GPU tests") {
  auto& ctx = gpu();
  CHECK(ctx.instance().validation_enabled());
  CHECK(ctx.instance().debug_utils());
}

TEST_CASE("a validation error is counted and would fail the test that caused it") {
  auto& ctx = gpu();
  take_validation_errors();
  provoke_validation_error(ctx);
  std::string messages;
  uint32_t errors = take_validation_errors(&messages);
  CHECK(errors >= 1);
  CHECK(messages.find("usage-requiredbitmask") != std::string::npos);
  // This is exactly the check GpuTest runs at the end of every GPU test case.
  CHECK(take_validation_errors() == 0);
}

// should_fail: doctest reports this case as passing only if it fails, which it must, because
// the error below is left for GpuTest's end-of-test check to find.
TEST_CASE_FIXTURE(GpuTest, "an unclaimed validation error fails the GPU test" * doctest::should_fail()) {
  provoke_validation_error(ctx);
}

TEST_CASE("synchronization validation catches a missing barrier") {
  auto& ctx = gpu();
  if (!env_flag("VKMOE_SYNC_VALIDATION")) {
    MESSAGE("VKMOE_SYNC_VALIDATION not set: skipped (CTest sets it)");
    return;
  }
  take_validation_errors();
  Buffer a = ctx.allocator().create_buffer(4096, MemoryUse::device, "a");
  Buffer b = ctx.allocator().create_buffer(4096, MemoryUse::device, "b");
  const auto& pipe = ctx.pipelines().get({.kernel = "scale_add_u32", .bindings = 2, .push_size = 16});
  uint32_t push[4] = {1024, 3, 1, 0};
  Sequence seq(ctx.device());
  // Lie to the tracker: the shader writes b, but b is declared as only read, so the next
  // command's read of b gets no barrier.
  seq.dispatch(pipe, {{a.range(), Access::read}, {b.range(), Access::read}}, push, 4);
  seq.dispatch(pipe, {{b.range(), Access::read}, {a.range(), Access::read}}, push, 4);
  CHECK(seq.barriers() == 0);
  seq.run();
  std::string messages;
  CHECK(take_validation_errors(&messages) >= 1);
  CHECK(messages.find("SYNC-HAZARD") != std::string::npos);
}
