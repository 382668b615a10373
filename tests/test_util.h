// Helpers shared by the test suites: fresh random data, error measures, the shared/ folder.
#pragma once
#include <cstdint>
#include <filesystem>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace vkmoe::test {

// A generator seeded freshly every run (printed, and fixed by VKMOE_TEST_SEED to reproduce).
std::mt19937_64& rng();
uint64_t seed();

std::vector<float> random_floats(size_t n, float lo = -1.0f, float hi = 1.0f);

// ||a - b|| / ||b|| in double precision (b is the reference). Infinite if a has NaN/Inf.
double rel_l2(std::span<const float> a, std::span<const double> ref);
double rel_l2(std::span<const float> a, std::span<const float> ref);

// n little-endian floats from a file (logits written by another implementation); throws when
// the file is shorter.
std::vector<float> read_floats(const std::filesystem::path& path, size_t n);

// ../shared beside the checkout, or empty when it is absent (tests then skip what needs it).
std::filesystem::path shared_dir();

// A file llama.cpp wrote, ../shared/models/llamacpp/<name>.gguf, or empty when ../shared or the
// file is absent (the caller then skips its test; this says so in the test's output).
std::filesystem::path llamacpp_file(const std::string& name);
// llama.cpp's logits for such a file: the first n floats of <name>.logits.f32 beside it.
std::vector<float> llamacpp_logits(const std::filesystem::path& gguf, size_t n);

// A float bit pattern that no kernel produces by accident: outputs are filled with it first.
constexpr uint32_t kPoisonBits = 0x7fc0dead;  // a quiet NaN
float poison();

}  // namespace vkmoe::test
