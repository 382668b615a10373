// A quick end-to-end proof that compute works on the chosen device: upload, a reduction
// against a double-precision CPU sum, a split-binding transform, download.
#pragma once
#include <string>
#include <vector>

namespace vkmoe {

class Context;

struct SelfCheckResult {
  bool ok = true;
  std::vector<std::string> lines;  // one human-readable line per check
};

SelfCheckResult run_self_check(Context& ctx);

}  // namespace vkmoe
