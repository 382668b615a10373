// Proves the validation layer is on in GPU tests and that an error it reports fails a test.
#include <doctest/doctest.h>

#include "runtime/vk/check.h"
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
