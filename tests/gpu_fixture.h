// GPU tests share one Context per test program, always with the Khronos validation layer;
// GpuTest fails any test case during which the layer reported an error.
#pragma once
#include <doctest/doctest.h>

#include <string>

#include "runtime/vk/context.h"

namespace vkmoe::test {

// The shared context (device chosen by VKMOE_TEST_DEVICE, else the best one).
Context& gpu();

// Validation errors reported so far that no test has claimed; resets the count.
uint32_t take_validation_errors(std::string* messages = nullptr);

struct GpuTest {
  GpuTest();
  ~GpuTest();
  Context& ctx;
};

}  // namespace vkmoe::test
