#include "tests/test_util.h"

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace vkmoe::test {

uint64_t seed() {
  static const uint64_t s = [] {
    if (const char* e = std::getenv("VKMOE_TEST_SEED")) return static_cast<uint64_t>(std::strtoull(e, nullptr, 0));
    return static_cast<uint64_t>(std::random_device{}()) << 32 | static_cast<uint64_t>(std::random_device{}());
  }();
  return s;
}

std::mt19937_64& rng() {
  static std::mt19937_64 g = [] {
    std::fprintf(stderr, "test seed: VKMOE_TEST_SEED=%llu\n", static_cast<unsigned long long>(seed()));
    return std::mt19937_64(seed());
  }();
  return g;
}

std::vector<float> random_floats(size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng());
  return v;
}

template <typename R>
static double rel_l2_impl(std::span<const float> a, std::span<const R> ref) {
  if (a.size() != ref.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    double d = static_cast<double>(a[i]) - static_cast<double>(ref[i]);
    num += d * d;
    den += static_cast<double>(ref[i]) * static_cast<double>(ref[i]);
  }
  if (den == 0) return num == 0 ? 0.0 : INFINITY;
  return std::sqrt(num / den);
}

double rel_l2(std::span<const float> a, std::span<const double> ref) { return rel_l2_impl(a, ref); }
double rel_l2(std::span<const float> a, std::span<const float> ref) { return rel_l2_impl(a, ref); }

std::vector<float> read_floats(const std::filesystem::path& path, size_t n) {
  std::vector<float> v(n);
  std::ifstream f(path, std::ios::binary);
  f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * 4));
  if (f.gcount() != static_cast<std::streamsize>(n * 4))
    throw std::runtime_error(path.string() + ": expected " + std::to_string(n) + " floats");
  return v;
}

std::filesystem::path shared_dir() {
  std::filesystem::path p = VKMOE_SHARED_DIR;
  if (const char* e = std::getenv("VKMOE_SHARED_DIR")) p = e;
  std::error_code ec;
  if (std::filesystem::is_directory(p, ec)) return std::filesystem::canonical(p, ec);
  return {};
}

std::filesystem::path llamacpp_file(const std::string& name) {
  const auto dir = shared_dir();
  const auto p = dir.empty() ? std::filesystem::path{} : dir / "models" / "llamacpp" / (name + ".gguf");
  if (p.empty() || !std::filesystem::exists(p)) {
    MESSAGE("../shared/models/llamacpp/" << name << ".gguf not present: skipped");
    return {};
  }
  return p;
}

std::vector<float> llamacpp_logits(const std::filesystem::path& gguf, size_t n) {
  auto path = gguf;
  return read_floats(path.replace_extension(".logits.f32"), n);
}

float poison() { return std::bit_cast<float>(kPoisonBits); }

}  // namespace vkmoe::test
