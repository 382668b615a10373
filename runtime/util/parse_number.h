// Checked number parsing for everything a user types (options, environment variables, lists):
// the whole text must be one number, within [min, max], and finite for floats. Errors name
// `what` (an option or variable) and quote the text, e.g. "--temp: 'nan' is not a finite number".
#pragma once
#include <cstdint>
#include <limits>
#include <string_view>

namespace vkmoe {

int64_t parse_int(std::string_view text, std::string_view what, int64_t min = std::numeric_limits<int64_t>::min(),
                  int64_t max = std::numeric_limits<int64_t>::max());
double parse_float(std::string_view text, std::string_view what, double min = -std::numeric_limits<double>::max(),
                   double max = std::numeric_limits<double>::max());

// An environment variable parsed as above, or `def` when unset or empty.
int64_t env_int(const char* name, int64_t def, int64_t min, int64_t max);

}  // namespace vkmoe
