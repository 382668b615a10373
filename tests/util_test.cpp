#include <doctest/doctest.h>

#include <cmath>

#include "tests/test_util.h"

using namespace vkmoe::test;

TEST_CASE("rel_l2 measures relative error and rejects non-finite output") {
  std::vector<float> ref = {1, 2, 3, 4};
  std::vector<float> same = ref;
  CHECK(rel_l2(same, ref) == 0.0);
  std::vector<float> off = {1, 2, 3, 4.3f};
  CHECK(rel_l2(off, ref) > 0.05);
  std::vector<float> nan = {1, 2, poison(), 4};
  CHECK(std::isinf(rel_l2(nan, ref)));
}
