#include "tests/gpu_fixture.h"

#include <cstdlib>
#include <memory>

namespace vkmoe::test {

Context& gpu() {
  static std::unique_ptr<Context> ctx = [] {
    const char* dev = std::getenv("VKMOE_TEST_DEVICE");
    // Validation is not optional in tests: Instance throws if the layer is missing.
    auto c = std::make_unique<Context>(ContextOptions{.device = dev ? dev : "", .validation = true});
    MESSAGE("GPU tests on " << c->device().caps().name << " with features: " << c->device().features().describe());
    return c;
  }();
  return *ctx;
}

uint32_t take_validation_errors(std::string* messages) {
  auto& inst = gpu().instance();
  uint32_t n = inst.validation_errors();
  if (messages)
    for (const auto& m : inst.validation_messages()) *messages += m + "\n";
  inst.reset_validation_errors();
  return n;
}

GpuTest::GpuTest() : ctx(gpu()) {
  REQUIRE(ctx.instance().validation_enabled());
  take_validation_errors();
}

GpuTest::~GpuTest() {
  std::string messages;
  uint32_t errors = take_validation_errors(&messages);
  CHECK_MESSAGE(errors == 0, "validation errors during this test:\n" << messages);
}

}  // namespace vkmoe::test
