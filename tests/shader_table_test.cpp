// The variant table compiled into the library against tests/data/variants_expected.txt (the
// expansion of shaders/variants.txt that variants_table_test checks): the same variants per
// kernel, in the same order of preference and with the same requirements, except those whose
// glslc extension was missing at configure time (cmake/shaders.cmake leaves them out).
#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/vk/shader_table.h"

namespace {

struct Row {
  std::string variant, requires_;
  bool operator==(const Row&) const = default;
};

std::string requires_text(const char* needs) { return *needs ? needs : "-"; }

}  // namespace

TEST_CASE("the embedded shader table is the expected one, less what glslc could not compile") {
  std::ifstream in(std::string(VKMOE_SOURCE_DIR) + "/tests/data/variants_expected.txt");
  REQUIRE(in);
  std::map<std::string, std::vector<Row>> expected;  // rows in rank order: the file is sorted
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream s(line);
    std::string kernel, rank, variant, source, requires_, defines;
    REQUIRE(static_cast<bool>(s >> kernel >> rank >> variant >> source >> requires_ >> defines));
    expected[kernel].push_back({variant, requires_});
  }
  REQUIRE(expected.size() > 200);

  std::map<std::string, std::vector<Row>> built;
  std::set<std::string> names;
  for (const auto& v : vkmoe::shader_variants()) {
    CHECK(v.words > 5);  // at least a SPIR-V header
    CHECK(names.insert(v.name).second);
    built[v.kernel].push_back({v.name, requires_text(v.needs)});
  }
  for (const auto& [kernel, rows] : expected) {
    std::vector<Row> kept;
    for (const Row& r : rows) {
      if (names.count(r.variant)) kept.push_back(r);
      else  // only the probed extensions may be missing
        CHECK_MESSAGE((r.requires_.find("int_dot") != std::string::npos ||
                       r.requires_.find("coopmat") != std::string::npos),
                      r.variant << " is not built");
    }
    CHECK_MESSAGE((built.count(kernel) ? built[kernel] == kept : kept.empty()), kernel);
  }
  for (const auto& [kernel, rows] : built) CHECK_MESSAGE(expected.count(kernel), kernel << " is not expected");
}
