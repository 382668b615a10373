// GGML block formats: layouts checked against hand-packed bytes (not against our own packer),
// f16/bf16 conversions on special values, quantization error on random data, and round trips.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

#include "runtime/quant/quant.h"
#include "tests/test_util.h"

using namespace vkmoe;
using vkmoe::test::rng;

namespace {

std::vector<float> normal_floats(size_t n, float sigma) {
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng());
  return v;
}

int random_int(int lo, int hi) {
  return std::uniform_int_distribution<int>(lo, hi)(rng());
}

void put_u16(std::vector<uint8_t>& b, size_t at, uint16_t v) {
  b[at] = static_cast<uint8_t>(v & 0xff);  // little-endian, as GGUF stores halves
  b[at + 1] = static_cast<uint8_t>(v >> 8);
}

void check_exact(std::span<const float> got, std::span<const float> want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    CHECK(got[i] == want[i]);
  }
}

// Q4_K and Q5_K share these hand-packed scale bytes. Decoded by hand from the layout:
// j < 4: sc = byte[j] & 63, m = byte[j+4] & 63;
// j >= 4: sc = (byte[j+4] & 15) | (byte[j-4] >> 6) << 4, m = (byte[j+4] >> 4) | (byte[j] >> 6)
// << 4.
constexpr std::array<uint8_t, 12> kKScaleBytes = {0x41, 0x02, 0x83, 0xC4, 0x00, 0x45,
                                                  0x0A, 0xFF, 0x21, 0x30, 0x07, 0xFF};
constexpr std::array<int, 8> kKScales = {1, 2, 3, 4, 17, 0, 39, 63};
constexpr std::array<int, 8> kKMins = {0, 5, 10, 63, 2, 19, 0, 63};

// A Q4_K/Q5_K block of `bytes` with d, dmin and kKScaleBytes filled in, levels left zero.
std::vector<uint8_t> k_block_header(size_t bytes, uint16_t d, uint16_t dmin) {
  std::vector<uint8_t> b(bytes);
  put_u16(b, 0, d);
  put_u16(b, 2, dmin);
  std::memcpy(&b[4], kKScaleBytes.data(), 12);
  return b;
}

std::vector<int> random_levels(size_t n, int lo, int hi) {
  std::vector<int> q(n);
  for (auto& v : q) v = random_int(lo, hi);
  return q;
}

// What a Q4_K/Q5_K block with kKScaleBytes holds for levels q.
std::vector<float> k_block_values(float d, float dmin, const std::vector<int>& q) {
  std::vector<float> want(256);
  for (int e = 0; e < 256; ++e) want[e] = d * kKScales[e / 32] * q[e] - dmin * kKMins[e / 32];
  return want;
}

}  // namespace

TEST_CASE("f16 conversions handle zeros, subnormals, limits, inf, nan and ties") {
  CHECK(f16_to_f32(0x0000) == 0.0f);
  CHECK(!std::signbit(f16_to_f32(0x0000)));
  CHECK(f16_to_f32(0x8000) == 0.0f);
  CHECK(std::signbit(f16_to_f32(0x8000)));
  CHECK(f16_to_f32(0x0001) == std::ldexp(1.0f, -24));  // smallest subnormal
  CHECK(f16_to_f32(0x03FF) == 1023 * std::ldexp(1.0f, -24));
  CHECK(f16_to_f32(0x0400) == std::ldexp(1.0f, -14));  // smallest normal
  CHECK(f16_to_f32(0x3C00) == 1.0f);
  CHECK(f16_to_f32(0xC000) == -2.0f);
  CHECK(f16_to_f32(0x3555) == 0.333251953125f);
  CHECK(f16_to_f32(0x7BFF) == 65504.0f);
  CHECK(f16_to_f32(0xFBFF) == -65504.0f);
  CHECK(f16_to_f32(0x7C00) == std::numeric_limits<float>::infinity());
  CHECK(f16_to_f32(0xFC00) == -std::numeric_limits<float>::infinity());
  CHECK(std::isnan(f16_to_f32(0x7E00)));
  CHECK(std::isnan(f16_to_f32(0x7C01)));  // signalling payload still NaN, not inf

  CHECK(f32_to_f16(0.0f) == 0x0000);
  CHECK(f32_to_f16(-0.0f) == 0x8000);
  CHECK(f32_to_f16(1.0f) == 0x3C00);
  CHECK(f32_to_f16(-2.0f) == 0xC000);
  CHECK(f32_to_f16(65504.0f) == 0x7BFF);
  CHECK(f32_to_f16(65519.996f) == 0x7BFF);  // just under the midpoint to 2^16
  CHECK(f32_to_f16(65520.0f) == 0x7C00);    // the midpoint: ties to even, which is inf
  CHECK(f32_to_f16(1e6f) == 0x7C00);
  CHECK(f32_to_f16(-1e6f) == 0xFC00);
  CHECK(f32_to_f16(std::numeric_limits<float>::infinity()) == 0x7C00);
  CHECK(f32_to_f16(-std::numeric_limits<float>::infinity()) == 0xFC00);
  for (uint32_t nan_bits : {0x7FC00000u, 0x7F800001u, 0xFFFFFFFFu, 0x7F802000u}) {
    const uint16_t h = f32_to_f16(std::bit_cast<float>(nan_bits));
    INFO("nan bits " << nan_bits);
    CHECK((h & 0x7C00) == 0x7C00);
    CHECK((h & 0x03FF) != 0);  // still NaN, even when the payload sits below the kept bits
  }
  // Rounding: ties go to the even neighbour.
  CHECK(f32_to_f16(1.0f + std::ldexp(1.0f, -11)) == 0x3C00);      // tie between 0x3C00, 0x3C01
  CHECK(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3C02);  // tie between 0x3C01, 0x3C02
  CHECK(f32_to_f16(std::nextafter(1.0f + std::ldexp(1.0f, -11), 2.0f)) == 0x3C01);
  // Subnormals: 2^-25 is half the smallest subnormal, a tie that goes to 0.
  CHECK(f32_to_f16(std::ldexp(1.0f, -24)) == 0x0001);
  CHECK(f32_to_f16(std::ldexp(1.0f, -25)) == 0x0000);
  CHECK(f32_to_f16(-std::ldexp(1.0f, -25)) == 0x8000);
  CHECK(f32_to_f16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)) == 0x0001);
  CHECK(f32_to_f16(3 * std::ldexp(1.0f, -25)) == 0x0002);  // tie between 1 and 2 ulps
  CHECK(f32_to_f16(std::ldexp(1.0f, -14) - std::ldexp(1.0f, -25)) ==
        0x0400);  // rounds up into the normals
  CHECK(f32_to_f16(std::ldexp(1.0f, -14)) == 0x0400);
  CHECK(f32_to_f16(1e-10f) == 0x0000);
  CHECK(f32_to_f16(std::numeric_limits<float>::denorm_min()) == 0x0000);

  // Every non-NaN half survives f16 -> f32 -> f16.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      CHECK(std::isnan(f16_to_f32(f32_to_f16(f))));
      continue;
    }
    if (f32_to_f16(f) != h) FAIL_CHECK("half " << h << " does not round-trip");
  }
}

TEST_CASE("f32_to_f16 picks the nearest half for random floats") {
  // Against a double-precision nearest-neighbour search over the adjacent halves.
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < 200000; ++i) {
    const float f = std::bit_cast<float>(bits(rng()));
    if (!std::isfinite(f) || std::fabs(f) >= 65520.0f) continue;
    const uint16_t h = f32_to_f16(f);
    const double err = std::fabs(static_cast<double>(f16_to_f32(h)) - f);
    for (int step : {-1, 1}) {
      const uint16_t nb = static_cast<uint16_t>(h + step);
      const double nb_f = f16_to_f32(nb);
      if ((nb & 0x7FFF) >= 0x7C00) continue;  // no finite neighbour on that side
      const double nb_err = std::fabs(nb_f - f);
      if (nb_err < err || (nb_err == err && (h & 1))) {
        FAIL_CHECK("f = " << f << " gave " << h << ", neighbour " << nb << " is nearer or even");
        break;
      }
    }
  }
}

TEST_CASE("bf16 conversions round to nearest even and keep NaN") {
  CHECK(bf16_to_f32(0x3F80) == 1.0f);
  CHECK(bf16_to_f32(0xC040) == -3.0f);
  CHECK(std::signbit(bf16_to_f32(0x8000)));
  CHECK(bf16_to_f32(0x7F80) == std::numeric_limits<float>::infinity());
  CHECK(std::isnan(bf16_to_f32(0x7FC0)));
  CHECK(bf16_to_f32(0x0001) == std::bit_cast<float>(0x00010000u));  // subnormal

  CHECK(f32_to_bf16(1.0f) == 0x3F80);
  CHECK(f32_to_bf16(-0.0f) == 0x8000);
  CHECK(f32_to_bf16(std::bit_cast<float>(0x3F808000u)) == 0x3F80);  // tie, even is down
  CHECK(f32_to_bf16(std::bit_cast<float>(0x3F818000u)) == 0x3F82);  // tie, even is up
  CHECK(f32_to_bf16(std::bit_cast<float>(0x3F808001u)) == 0x3F81);  // above the tie
  CHECK(f32_to_bf16(std::bit_cast<float>(0x3F807FFFu)) == 0x3F80);  // below the tie
  CHECK(f32_to_bf16(std::numeric_limits<float>::max()) == 0x7F80);  // rounds up to inf
  CHECK(f32_to_bf16(std::numeric_limits<float>::infinity()) == 0x7F80);
  CHECK(f32_to_bf16(-std::numeric_limits<float>::infinity()) == 0xFF80);
  CHECK(f32_to_bf16(std::bit_cast<float>(0x00010000u)) == 0x0001);  // subnormals are kept
  CHECK(f32_to_bf16(std::bit_cast<float>(0x7FC00000u)) == 0x7FC0);
  CHECK(f32_to_bf16(std::bit_cast<float>(0xFFC00001u)) == 0xFFC0);
  // A signalling NaN whose payload is only in the low half would become inf if just truncated.
  CHECK(f32_to_bf16(std::bit_cast<float>(0x7F800001u)) == 0x7FC0);
  CHECK(f32_to_bf16(std::bit_cast<float>(0x7FFFFFFFu)) ==
        0x7FFF);  // no rounding carry into the sign

  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = bf16_to_f32(static_cast<uint16_t>(h));
    if (!std::isnan(f) && f32_to_bf16(f) != h) FAIL_CHECK("bf16 " << h << " does not round-trip");
  }
}

TEST_CASE("Q8_0 layout: f16 d then 32 signed bytes") {
  std::vector<uint8_t> b(34);
  put_u16(b, 0, 0x3800);  // d = 0.5
  std::vector<float> want(32);
  for (int i = 0; i < 32; ++i) {
    const int q = random_int(-128, 127);
    b[2 + i] = static_cast<uint8_t>(static_cast<int8_t>(q));
    want[i] = 0.5f * q;
  }
  b[2] = 0x80;  // -128
  want[0] = -64.0f;
  check_exact(dequantize(GgmlType::Q8_0, b, 32), want);
}

TEST_CASE("Q4_0 layout: low nibbles are elements 0..15, high nibbles 16..31, offset 8") {
  std::vector<uint8_t> b(18);
  put_u16(b, 0, 0xC000);  // d = -2
  std::vector<float> want(32);
  for (int j = 0; j < 16; ++j) {
    const int lo = random_int(0, 15), hi = random_int(0, 15);
    b[2 + j] = static_cast<uint8_t>(lo | hi << 4);
    want[j] = -2.0f * (lo - 8);
    want[16 + j] = -2.0f * (hi - 8);
  }
  b[2] = 0xF0;  // element 0 -> (0 - 8) * -2 = 16, element 16 -> (15 - 8) * -2 = -14
  want[0] = 16.0f;
  want[16] = -14.0f;
  check_exact(dequantize(GgmlType::Q4_0, b, 32), want);
}

TEST_CASE("Q4_K layout: packed 6-bit scales and mins, sub-block pairs share bytes") {
  auto b = k_block_header(144, 0x3C00, 0x3800);  // d = 1, dmin = 0.5
  auto q = random_levels(256, 0, 15);
  q[32 * 7 + 5] = 15;  // spot value: sub-block 7 -> 1 * 63 * 15 - 0.5 * 63 = 913.5
  // Element 32j + l: byte 16 + 32 * (j / 2) + l, low nibble for even j, high for odd j.
  for (int j = 0; j < 8; ++j)
    for (int l = 0; l < 32; ++l)
      b[16 + 32 * (j / 2) + l] |= static_cast<uint8_t>(q[32 * j + l] << (j % 2 ? 4 : 0));
  const auto got = dequantize(GgmlType::Q4_K, b, 256);
  check_exact(got, k_block_values(1.0f, 0.5f, q));
  CHECK(got[32 * 7 + 5] == 913.5f);
}

TEST_CASE("Q5_K layout: Q4_K's nibbles plus bit j of qh[l] worth 16 for element 32j + l") {
  auto b = k_block_header(176, 0x4000, 0x3400);  // d = 2, dmin = 0.25
  auto q = random_levels(256, 0, 31);
  q[32 * 6 + 31] = 31;  // spot value: 2 * 39 * 31 - 0.25 * 0 = 2418
  for (int j = 0; j < 8; ++j) {
    for (int l = 0; l < 32; ++l) {
      const int v = q[32 * j + l];
      b[16 + l] |= static_cast<uint8_t>((v >> 4) << j);  // qh
      b[48 + 32 * (j / 2) + l] |= static_cast<uint8_t>((v & 15) << (j % 2 ? 4 : 0));
    }
  }
  const auto got = dequantize(GgmlType::Q5_K, b, 256);
  check_exact(got, k_block_values(2.0f, 0.25f, q));
  CHECK(got[32 * 6 + 31] == 2418.0f);
}

TEST_CASE("Q6_K layout: ql/qh interleave by 32-element quarters, signed scale per 16") {
  std::vector<uint8_t> b(210);
  std::array<int, 16> scales;
  for (auto& s : scales) s = random_int(-128, 127);
  scales[3] = -128;
  scales[12] = 127;
  for (int s = 0; s < 16; ++s) b[192 + s] = static_cast<uint8_t>(static_cast<int8_t>(scales[s]));
  put_u16(b, 208, 0x3400);  // d = 0.25
  auto q = random_levels(256, 0, 63);
  q[48] = 0;    // spot value: scale 3 -> 0.25 * -128 * (0 - 32) = 1024
  q[200] = 63;  // spot value: scale 12 -> 0.25 * 127 * (63 - 32) = 984.25
  // Element 128h + 32k + l: low 4 bits in ql[64h + 32(k & 1) + l] (high nibble for k >= 2),
  // top 2 bits at bit 2k of qh[32h + l] (qh starts at byte 128).
  for (int e = 0; e < 256; ++e) {
    const int h = e / 128, k = e % 128 / 32, l = e % 32;
    b[64 * h + 32 * (k & 1) + l] |= static_cast<uint8_t>((q[e] & 15) << (k >= 2 ? 4 : 0));
    b[128 + 32 * h + l] |= static_cast<uint8_t>((q[e] >> 4) << (2 * k));
  }
  std::vector<float> want(256);
  for (int e = 0; e < 256; ++e)
    want[e] = 0.25f * static_cast<float>(scales[e / 16]) * static_cast<float>(q[e] - 32);
  const auto got = dequantize(GgmlType::Q6_K, b, 256);
  check_exact(got, want);
  CHECK(got[48] == 1024.0f);
  CHECK(got[200] == 984.25f);
}

TEST_CASE("F16 and BF16 rows are little-endian halves") {
  const std::vector<float> src = {1.0f, -2.0f, 0.5f, 65504.0f};
  const auto f16 = quantize(GgmlType::F16, src);
  CHECK(f16 == std::vector<uint8_t>{0x00, 0x3C, 0x00, 0xC0, 0x00, 0x38, 0xFF, 0x7B});
  check_exact(dequantize(GgmlType::F16, f16, 4), src);
  const auto bf16 = quantize(GgmlType::BF16, src);
  CHECK(bf16 == std::vector<uint8_t>{0x80, 0x3F, 0x00, 0xC0, 0x00, 0x3F, 0x80, 0x47});
  CHECK(dequantize(GgmlType::BF16, bf16, 4)[3] == 65536.0f);  // 65504 rounds up in bf16
  const auto f32 = quantize(GgmlType::F32, src);
  check_exact(dequantize(GgmlType::F32, f32, 4), src);
}

TEST_CASE("Q4_0 quantizes a known block like ggml (signed max maps to -8)") {
  // x[j] = 16 - j: the largest magnitude is +16, so d = 16 / -8 = -2 and level = j / 2 + 0.5
  // truncated (ggml's + 8.5 rounding), clamped to 15.
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = 16.0f - j;
  const auto b = quantize(GgmlType::Q4_0, x);
  REQUIRE(b.size() == 18);
  CHECK(b[0] == 0x00);
  CHECK(b[1] == 0xC0);
  auto level = [](int j) { return std::min(15, (j + 1) / 2); };
  for (int j = 0; j < 16; ++j) {
    INFO("byte " << j);
    CHECK(b[2 + j] == (level(j) | level(j + 16) << 4));
  }
}

TEST_CASE("Q8_0 quantizes a known block like ggml (amax / 127, round half away)") {
  // x[j] = j - 16: amax = 16 at j = 0, d = f16(16 / 127), levels x / d with the unrounded d.
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16);
  const auto b = quantize(GgmlType::Q8_0, x);
  const uint16_t d = f32_to_f16(16.0f / 127.0f);
  CHECK((b[0] | b[1] << 8) == d);
  const float id = 1.0f / (16.0f / 127.0f);  // ggml scales by the unrounded d
  for (int j = 0; j < 32; ++j)
    CHECK(static_cast<int8_t>(b[2 + j]) == static_cast<int>(std::round((j - 16) * id)));
  CHECK(static_cast<int8_t>(b[2]) == -127);
}

TEST_CASE("quantize -> dequantize error stays within per-type bounds") {
  struct Case {
    GgmlType type;
    double max_rel;  // ~15% above the worst of 25 seeds (Gaussian data is the worse input)
  };
  const Case cases[] = {
      {GgmlType::F16, 2.5e-4}, {GgmlType::BF16, 2e-3},  {GgmlType::Q8_0, 6.5e-3},
      {GgmlType::Q4_0, 0.1},   {GgmlType::Q4_K, 0.085}, {GgmlType::Q5_K, 0.043},
      {GgmlType::Q6_K, 0.021},
  };
  const size_t n = 256 * 64;
  const std::vector<float> inputs[] = {normal_floats(n, 0.02f),
                                       test::random_floats(n, -1.0f, 1.0f)};
  for (const auto& c : cases) {
    for (const auto& x : inputs) {
      const auto q = quantize(c.type, x);
      CHECK(q.size() == ggml_row_bytes(c.type, n));
      const auto y = dequantize(c.type, q, n);
      const double err = test::rel_l2(y, x);
      MESSAGE(ggml_type_name(c.type) << " relative RMS error " << err);
      CHECK(err < c.max_rel);
    }
  }
}

TEST_CASE("K-quant quantizers follow ggml's reference scale choice") {
  const auto x = normal_floats(256 * 16, 1.0f);
  SUBCASE("Q6_K stores -128 for the largest sub-block scale") {
    const auto q = quantize(GgmlType::Q6_K, x);
    for (size_t blk = 0; blk < 16; ++blk) {
      bool has_min = false;
      for (int s = 0; s < 16; ++s) has_min |= static_cast<int8_t>(q[blk * 210 + 192 + s]) == -128;
      CHECK(has_min);
    }
  }
  SUBCASE("Q4_K and Q5_K use 63 for the largest scale and min") {
    for (auto [t, size] : {std::pair{GgmlType::Q4_K, 144}, std::pair{GgmlType::Q5_K, 176}}) {
      const auto q = quantize(t, x);
      for (size_t blk = 0; blk < 16; ++blk) {
        const uint8_t* s = &q[blk * size + 4];
        int max_sc = 0, max_m = 0;
        for (int j = 0; j < 8; ++j) {
          const int sc = j < 4 ? s[j] & 63 : (s[j + 4] & 15) | (s[j - 4] >> 6) << 4;
          const int m = j < 4 ? s[j + 4] & 63 : (s[j + 4] >> 4) | (s[j] >> 6) << 4;
          max_sc = std::max(max_sc, sc);
          max_m = std::max(max_m, m);
        }
        CHECK(max_sc == 63);
        CHECK(max_m == 63);
      }
    }
  }
}

TEST_CASE("all-zero input quantizes to all-zero blocks and back to zeros") {
  const std::vector<float> zeros(512, 0.0f);
  for (auto t : {GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_K,
                 GgmlType::Q5_K, GgmlType::Q6_K}) {
    INFO(ggml_type_name(t));
    const auto q = quantize(t, zeros);
    // Q4_0 stores level 8 (0x88 per byte) and, like ggml, d = 0 / -8 = -0 (0x8000).
    const bool q4_0 = t == GgmlType::Q4_0;
    for (size_t i = 0; i < q.size(); ++i) {
      const uint8_t want = !q4_0 ? 0x00 : i % 18 >= 2 ? 0x88 : i % 18 == 1 ? 0x80 : 0x00;
      if (q[i] != want) {
        FAIL_CHECK("byte " << i << " is " << int(q[i]));
        break;
      }
    }
    check_exact(dequantize(t, q, zeros.size()), zeros);
  }
}

TEST_CASE("quantize(dequantize(q)) reproduces q for Q8_0 and Q4_0") {
  for (auto t : {GgmlType::Q8_0, GgmlType::Q4_0}) {
    INFO(ggml_type_name(t));
    const size_t n = 32 * 256;
    const auto x = normal_floats(n, 0.5f);
    const auto q = quantize(t, x);
    const auto q2 = quantize(t, dequantize(t, q, n));
    CHECK(q2 == q);
  }
}

TEST_CASE("K-quants are nearly idempotent: requantizing dequantized values moves them little") {
  const size_t n = 256 * 32;
  const auto x = normal_floats(n, 1.0f);
  for (auto [t, bound] : {std::pair{GgmlType::Q4_K, 0.05}, std::pair{GgmlType::Q5_K, 0.03},
                          std::pair{GgmlType::Q6_K, 0.01}}) {
    const auto y = dequantize(t, quantize(t, x), n);
    const auto y2 = dequantize(t, quantize(t, y), n);
    const double err = test::rel_l2(y2, y);
    MESSAGE(ggml_type_name(t) << " requantization drift " << err);
    CHECK(err < bound);
  }
}

TEST_CASE("rows that are not whole blocks, and unsupported types, are rejected by name") {
  std::vector<float> x(300, 1.0f);
  std::vector<uint8_t> buf(4096);
  auto message = [](auto&& fn) -> std::string {
    try {
      fn();
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "no exception";
  };
  const std::string odd_k =
      message([&] { quantize_row(GgmlType::Q4_K, x.data(), buf.data(), 100); });
  CHECK(odd_k.find("q4_K") != std::string::npos);
  CHECK(odd_k.find("100") != std::string::npos);
  const std::string odd_q8 =
      message([&] { dequantize_row(GgmlType::Q8_0, buf.data(), x.data(), 33); });
  CHECK(odd_q8.find("q8_0") != std::string::npos);
  CHECK(odd_q8.find("33") != std::string::npos);
  CHECK_THROWS_AS(quantize(GgmlType::Q6_K, std::span<const float>(x.data(), 300)),
                  std::invalid_argument);
  CHECK_THROWS_AS(dequantize(GgmlType::Q5_K, std::span<const uint8_t>(buf.data(), 176), 200),
                  std::invalid_argument);
  // Whole blocks but the wrong byte count.
  CHECK_THROWS_AS(dequantize(GgmlType::Q4_0, std::span<const uint8_t>(buf.data(), 17), 32),
                  std::invalid_argument);
  const std::string unsupported =
      message([&] { quantize_row(GgmlType::IQ2_XXS, x.data(), buf.data(), 256); });
  CHECK(unsupported.find("iq2_xxs") != std::string::npos);
  const std::string unknown =
      message([&] { dequantize_row(static_cast<GgmlType>(77), buf.data(), x.data(), 32); });
  CHECK(unknown.find("77") != std::string::npos);
  // An empty row is fine.
  CHECK(quantize(GgmlType::Q4_K, std::span<const float>()).empty());
}

TEST_CASE("row functions accept unaligned buffers") {
  const auto x = normal_floats(256, 1.0f);
  const auto q = quantize(GgmlType::Q6_K, x);
  std::vector<uint8_t> shifted(q.size() + 1);
  std::memcpy(shifted.data() + 1, q.data(), q.size());
  std::vector<float> a(256), b(256);
  dequantize_row(GgmlType::Q6_K, q.data(), a.data(), 256);
  dequantize_row(GgmlType::Q6_K, shifted.data() + 1, b.data(), 256);
  check_exact(b, a);
  std::vector<uint8_t> out(q.size() + 1);
  quantize_row(GgmlType::Q6_K, x.data(), out.data() + 1, 256);
  CHECK(std::memcmp(out.data() + 1, q.data(), q.size()) == 0);
}
