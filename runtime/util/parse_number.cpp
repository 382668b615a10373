#include "runtime/util/parse_number.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace vkmoe {

namespace {

std::string quoted(std::string_view what, std::string_view text) {
  return std::string(what) + ": '" + std::string(text) + "'";
}

template <typename T>
std::string range_text(T min, T max) {
  return " (allowed: " + std::to_string(min) + " to " + std::to_string(max) + ")";
}

}  // namespace

int64_t parse_int(std::string_view text, std::string_view what, int64_t min, int64_t max) {
  int64_t v = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data() + (text.starts_with('+') ? 1 : 0), end, v);
  if (text.empty() || ptr != end || ec == std::errc::invalid_argument)
    throw std::invalid_argument(quoted(what, text) + " is not an integer");
  if (ec == std::errc::result_out_of_range || v < min || v > max)
    throw std::invalid_argument(quoted(what, text) + " is out of range" + range_text(min, max));
  return v;
}

double parse_float(std::string_view text, std::string_view what, double min, double max) {
  double v = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data() + (text.starts_with('+') ? 1 : 0), end, v);
  if (text.empty() || ptr != end || ec == std::errc::invalid_argument)
    throw std::invalid_argument(quoted(what, text) + " is not a number");
  if (!std::isfinite(v) || ec == std::errc::result_out_of_range)
    throw std::invalid_argument(quoted(what, text) + " is not a finite number");
  if (v < min || v > max) {
    char buf[96];
    std::snprintf(buf, sizeof buf, " is out of range (allowed: %g to %g)", min, max);
    throw std::invalid_argument(quoted(what, text) + buf);
  }
  return v;
}

int64_t env_int(const char* name, int64_t def, int64_t min, int64_t max) {
  const char* e = std::getenv(name);
  if (!e || !*e) return def;
  return parse_int(e, name, min, max);
}

}  // namespace vkmoe
