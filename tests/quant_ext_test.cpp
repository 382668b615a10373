// The block types of issue 11 on the CPU: hand-built blocks decoded by the layout (d, scales,
// mins, signs, grid entries) element by element, the generated IQ grids against ggml's published
// values, the reference quantizers' round trips, and hashes of what ggml's own ggml-quants.c
// (linked into a one-off program, commit d99724f2 of ggml-org/ggml) produced on fixed inputs.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "runtime/quant/iq_tables.h"
#include "runtime/quant/quant.h"
#include "runtime/quant/quant_blocks.h"
#include "tests/test_util.h"

using namespace vkmoe;
using vkmoe::test::rng;

namespace {

uint8_t random_byte() { return static_cast<uint8_t>(std::uniform_int_distribution<int>(0, 255)(rng())); }

template <typename Block>
Block random_block() {
  Block b;
  auto* p = reinterpret_cast<uint8_t*>(&b);
  for (size_t i = 0; i < sizeof b; ++i) p[i] = random_byte();
  return b;
}

uint16_t half(float f) { return f32_to_f16(f); }

template <typename Block>
std::vector<float> decode(GgmlType t, const Block& b) {
  std::vector<float> y(Block::kElems, NAN);
  dequantize_row(t, &b, y.data(), Block::kElems);
  return y;
}

void check_equal(const std::vector<float>& got, const std::vector<float>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    CHECK(got[i] == want[i]);
  }
}

uint8_t grid_byte(uint64_t entry, int j) { return static_cast<uint8_t>(entry >> (8 * j)); }
float sign_of(uint8_t signs, int j) { return (signs >> j) & 1 ? -1.f : 1.f; }
uint8_t sign_byte(uint32_t s7) { return static_cast<uint8_t>(s7 | (__builtin_popcount(s7) & 1) << 7); }
const float kE2m1[16] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6, -0.f, -0.5f, -1, -1.5f, -2, -3, -4, -6};

// FNV-1a 64 of bytes.
uint64_t fnv(const void* p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<const uint8_t*>(p)[i]) * 1099511628211ull;
  return h;
}

// The fixed inputs the golden hashes were made from (an LCG, so any platform makes the same).
uint32_t lcg(uint32_t& s) {
  s = s * 1664525u + 1013904223u;
  return s >> 8;
}

std::vector<float> golden_input(size_t n) {
  std::vector<float> x(n);
  uint32_t s = 7;
  for (size_t i = 0; i < n; ++i) x[i] = (float(lcg(s) % 20001) - 10000.f) * 1e-4f * (1.f + float(i % 37) / 8.f);
  return x;
}

// 16 blocks of random bytes with d = 1/64 (f16 0x2400; IQ1_M holds it in its scales' top nibbles).
std::vector<uint8_t> golden_blocks(GgmlType t) {
  const auto info = *ggml_type_info(uint32_t(t));
  std::vector<uint8_t> b(16 * info.block_bytes);
  uint32_t s = 11;
  for (auto& v : b) v = uint8_t(lcg(s));
  for (size_t i = 0; i < 16; ++i) {
    uint8_t* p = b.data() + i * info.block_bytes;
    if (t == GgmlType::IQ1_M) {
      for (int k = 0; k < 4; ++k) p[49 + 2 * k] = uint8_t((p[49 + 2 * k] & 0x0f) | ((0x2400 >> (4 * k)) & 15) << 4);
    } else {
      p[0] = 0x00;
      p[1] = 0x24;
    }
  }
  return b;
}

}  // namespace

TEST_CASE("codecs reproduce ggml's reference output bit for bit (hashes of ggml-quants.c's results)") {
  struct Quantized {
    GgmlType type;
    uint64_t bytes, values;  // hashes of quantize_row_*_ref's blocks and dequantize_row_*'s floats
  };
  const Quantized quantized[] = {
      {GgmlType::Q4_1, 0x94e4ad0b42f6b748ull, 0x27cb52e9881d28d6ull},
      {GgmlType::Q5_0, 0x37cb16ba63a2110aull, 0x24397512774bc28dull},
      {GgmlType::Q5_1, 0x91c3cd7e122ddb3cull, 0xc0eb82de60f53162ull},
      {GgmlType::MXFP4, 0xe0ec45c2c3fcacf7ull, 0xb524e485bae01250ull},
      {GgmlType::IQ4_NL, 0x2eadc0a004577b7cull, 0xce40d91b73d9736bull},
      {GgmlType::IQ4_XS, 0x4857af6455abf20dull, 0xc597fd3a701a78c2ull},
      {GgmlType::Q2_K, 0xa36f6b74d872558cull, 0x221341b047b301f6ull},
      {GgmlType::Q3_K, 0x4ed8089e30600fcaull, 0x51c258762bbb0685ull},
  };
  const auto x = golden_input(1024);
  for (const auto& c : quantized) {
    CAPTURE(ggml_type_name(c.type));
    const auto q = quantize(c.type, x);
    const auto y = dequantize(c.type, q, x.size());
    CHECK(fnv(q.data(), q.size()) == c.bytes);
    CHECK(fnv(y.data(), y.size() * 4) == c.values);
  }
  struct Decoded {
    GgmlType type;
    uint64_t values;  // hash of dequantize_row_*'s floats on golden_blocks
  };
  const Decoded decoded[] = {
      {GgmlType::IQ2_XXS, 0xa73561a211220622ull}, {GgmlType::IQ2_XS, 0x162e0bd0d42a68f6ull},
      {GgmlType::IQ2_S, 0xefed04dd74471916ull},   {GgmlType::IQ3_XXS, 0x1696d47932b628e1ull},
      {GgmlType::IQ3_S, 0x8baf766b67ce717cull},   {GgmlType::IQ1_S, 0x836d3e2a5c669edaull},
      {GgmlType::IQ1_M, 0x745c3722745908abull},
  };
  for (const auto& c : decoded) {
    CAPTURE(ggml_type_name(c.type));
    const auto b = golden_blocks(c.type);
    const auto y = dequantize(c.type, b, 16 * 256);
    CHECK(fnv(y.data(), y.size() * 4) == c.values);
  }
}

TEST_CASE("generated IQ grids expand to ggml's published entries") {
  // Values copied from ggml-common.h (iq2xxs_grid etc.): first, second, a middle and last entry.
  CHECK(iq::kIq2xxsGrid[0] == 0x0808080808080808ull);
  CHECK(iq::kIq2xxsGrid[1] == 0x080808080808082bull);
  CHECK(iq::kIq2xxsGrid[131] == 0x082b2b2b19081908ull);
  CHECK(iq::kIq2xxsGrid[255] == 0x2b2b2b1908081908ull);
  CHECK(iq::kIq2xsGrid[259] == 0x190808080819082bull);
  CHECK(iq::kIq2xsGrid[511] == 0x2b2b2b2b2b2b2b2bull);
  CHECK(iq::kIq2sGrid[515] == 0x190808191908192bull);
  CHECK(iq::kIq2sGrid[1023] == 0x2b2b2b2b2b2b2b2bull);
  CHECK(iq::kIq3xxsGrid[1] == 0x04040414u);
  CHECK(iq::kIq3xxsGrid[131] == 0x14242c1cu);
  CHECK(iq::kIq3xxsGrid[255] == 0x3e341c04u);
  CHECK(iq::kIq3sGrid[259] == 0x05090903u);
  CHECK(iq::kIq3sGrid[511] == 0x0f0f0101u);
  CHECK(iq::kIq1sGrid[0] == 0xffffffffffffffffull);
  CHECK(iq::kIq1sGrid[1] == 0xffffffffffffff01ull);
  CHECK(iq::kIq1sGrid[1027] == 0x000000000000ff01ull);
  CHECK(iq::kIq1sGrid[2047] == 0x0101010101010101ull);
  // ksigns_iq2xs: the 8th bit keeps the number of negative signs even.
  CHECK(iq::kSignsIq2xs[0] == 0);
  CHECK(iq::kSignsIq2xs[1] == 129);
  CHECK(iq::kSignsIq2xs[3] == 3);
  CHECK(iq::kSignsIq2xs[127] == 255);
  CHECK(iq::kValuesIq4nl[0] == -127);
  CHECK(iq::kValuesIq4nl[15] == 113);
  CHECK(iq::kValuesMxfp4[7] == 12);
}

TEST_CASE("Q4_1, Q5_0, Q5_1 layout: nibbles as Q4_0, qh bit j is element j's 5th bit, y = d q (+ m)") {
  auto b41 = random_block<BlockQ4_1>();
  b41.d = half(0.5f);
  b41.m = half(-1.25f);
  auto b50 = random_block<BlockQ5_0>();
  b50.d = half(0.25f);
  auto b51 = random_block<BlockQ5_1>();
  b51.d = half(0.125f);
  b51.m = half(3.0f);
  std::vector<float> w41(32), w50(32), w51(32);
  for (int j = 0; j < 32; ++j) {
    const auto nib = [&](const uint8_t* qs) { return j < 16 ? qs[j] & 15 : qs[j - 16] >> 4; };
    const auto bit5 = [&](const uint8_t* qh) { return (qh[j / 8] >> (j % 8)) & 1; };
    w41[j] = nib(b41.qs) * 0.5f + -1.25f;
    w50[j] = ((nib(b50.qs) | bit5(b50.qh) << 4) - 16) * 0.25f;
    w51[j] = (nib(b51.qs) | bit5(b51.qh) << 4) * 0.125f + 3.0f;
  }
  check_equal(decode(GgmlType::Q4_1, b41), w41);
  check_equal(decode(GgmlType::Q5_0, b50), w50);
  check_equal(decode(GgmlType::Q5_1, b51), w51);
  // A literal: element 0 of Q5_0 with low nibble 3 and its 5th bit set is (19 - 16) * d.
  b50.qs[0] = 0xF3;
  b50.qh[0] |= 1;
  CHECK(decode(GgmlType::Q5_0, b50)[0] == 0.75f);
  CHECK(decode(GgmlType::Q5_0, b50)[16] == (15 + 16 * ((b50.qh[2] & 1)) - 16) * 0.25f);
}

TEST_CASE("MXFP4 layout: e2m1 nibbles times an e8m0 scale, subnormal scales included") {
  BlockMxfp4 b;
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | (15 - j) << 4);
  b.e = 127;  // 2^0
  std::vector<float> want(32);
  for (int j = 0; j < 16; ++j) {
    want[j] = kE2m1[j];
    want[j + 16] = kE2m1[15 - j];
  }
  check_equal(decode(GgmlType::MXFP4, b), want);
  for (int e : {0, 1, 2, 130, 254}) {
    CAPTURE(e);
    b.e = static_cast<uint8_t>(e);
    const auto y = decode(GgmlType::MXFP4, b);
    CHECK(y[7] == std::ldexp(6.0f, e - 127));  // 6 * 2^(e - 127); below e = 2 the scale is subnormal
    CHECK(y[16 + 1] == std::ldexp(-4.0f, e - 127));  // high nibble of qs[1] is 14
  }
}

TEST_CASE("IQ4_NL and IQ4_XS layout: non-linear values, IQ4_XS's 6-bit sub-block scales") {
  BlockIq4Nl nl;
  nl.d = half(0.5f);
  for (int j = 0; j < 16; ++j) nl.qs[j] = static_cast<uint8_t>(j | (15 - j) << 4);
  std::vector<float> want(32);
  for (int j = 0; j < 16; ++j) {
    want[j] = 0.5f * iq::kValuesIq4nl[j];
    want[j + 16] = 0.5f * iq::kValuesIq4nl[15 - j];
  }
  check_equal(decode(GgmlType::IQ4_NL, nl), want);
  CHECK(want[0] == -63.5f);

  auto xs = random_block<BlockIq4Xs>();
  xs.d = half(0.25f);
  const std::array<int, 8> ls = {0, 32, 33, 63, 31, 40, 1, 47};  // stored scales; the scale is ls - 32
  xs.scales_h = 0;
  for (int ib = 0; ib < 8; ++ib) {
    xs.scales_l[ib / 2] = static_cast<uint8_t>(ib % 2 ? (xs.scales_l[ib / 2] & 15) | (ls[ib] & 15) << 4 : (ls[ib] & 15));
    xs.scales_h = static_cast<uint16_t>(xs.scales_h | (ls[ib] >> 4) << (2 * ib));
  }
  std::vector<float> wx(256);
  for (int e = 0; e < 256; ++e) {
    const int ib = e / 32, j = e % 32;
    const int q = j < 16 ? xs.qs[16 * ib + j] & 15 : xs.qs[16 * ib + j - 16] >> 4;
    wx[e] = 0.25f * (ls[ib] - 32) * iq::kValuesIq4nl[q];
  }
  check_equal(decode(GgmlType::IQ4_XS, xs), wx);
}

TEST_CASE("Q2_K and Q3_K layout: 2-bit levels by quarter, 4-bit scale|min, 6-bit signed scales, hmask") {
  auto b2 = random_block<BlockQ2K>();
  b2.d = half(0.5f);
  b2.dmin = half(0.25f);
  auto b3 = random_block<BlockQ3K>();
  b3.d = half(0.125f);
  std::array<int, 16> s3;
  std::memset(b3.scales, 0, 12);
  for (int j = 0; j < 16; ++j) {
    s3[j] = (j * 7) % 64 - 32;  // -32 .. 31
    const int u = s3[j] + 32;
    b3.scales[j % 8] |= static_cast<uint8_t>((u & 15) << (4 * (j / 8)));
    b3.scales[8 + j % 4] |= static_cast<uint8_t>((u >> 4) << (2 * (j / 4)));
  }
  std::vector<float> w2(256), w3(256);
  for (int e = 0; e < 256; ++e) {
    const int h = e / 128, k = (e % 128) / 32, l = e % 32, sub = 8 * h + 2 * k + l / 16;
    const int q2 = (b2.qs[32 * h + l] >> (2 * k)) & 3;
    w2[e] = 0.5f * (b2.scales[sub] & 15) * q2 - 0.25f * (b2.scales[sub] >> 4);
    const int q3 = ((b3.qs[32 * h + l] >> (2 * k)) & 3) - ((b3.hmask[l] >> (4 * h + k)) & 1 ? 0 : 4);
    w3[e] = 0.125f * s3[sub] * q3;
  }
  check_equal(decode(GgmlType::Q2_K, b2), w2);
  check_equal(decode(GgmlType::Q3_K, b3), w3);
}

TEST_CASE("IQ2_XXS, IQ2_XS, IQ2_S layout: 8-element grid entries, sign bytes, 4-bit scales") {
  auto xxs = random_block<BlockIq2Xxs>();
  xxs.d = half(1.0f);
  auto xs = random_block<BlockIq2Xs>();
  xs.d = half(0.5f);
  auto s = random_block<BlockIq2S>();
  s.d = half(2.0f);
  std::vector<float> wxxs(256), wxs(256), ws(256);
  for (int e = 0; e < 256; ++e) {
    const int ib = e / 32, l = (e % 32) / 8, j = e % 8;
    uint32_t a0, a1;
    std::memcpy(&a0, &xxs.qs[4 * ib], 4);
    std::memcpy(&a1, &xxs.qs[4 * ib + 2], 4);
    const float dxxs = 1.0f * (0.5f + (a1 >> 28)) * 0.25f;
    wxxs[e] = dxxs * grid_byte(iq::kIq2xxsGrid[(a0 >> (8 * l)) & 255], j) * sign_of(sign_byte((a1 >> (7 * l)) & 127), j);
    const uint16_t q = xs.qs[4 * ib + l];
    const float dxs = 0.5f * (0.5f + ((xs.scales[ib] >> (4 * (l / 2))) & 15)) * 0.25f;
    wxs[e] = dxs * grid_byte(iq::kIq2xsGrid[q & 511], j) * sign_of(sign_byte(q >> 9), j);
    const int idx = s.qs[4 * ib + l] | ((s.qh[ib] >> (2 * l)) & 3) << 8;
    const float ds = 2.0f * (0.5f + ((s.scales[ib] >> (4 * (l / 2))) & 15)) * 0.25f;
    ws[e] = ds * grid_byte(iq::kIq2sGrid[idx], j) * sign_of(s.qs[32 + 4 * ib + l], j);
  }
  check_equal(decode(GgmlType::IQ2_XXS, xxs), wxxs);
  check_equal(decode(GgmlType::IQ2_XS, xs), wxs);
  check_equal(decode(GgmlType::IQ2_S, s), ws);
  // A literal group: grid entry 1 is {43, 8, 8, ...}, scale 3 gives d (3.5) / 4, sign bits 0b11.
  BlockIq2Xxs lit{};
  lit.d = half(1.0f);
  const uint32_t a0 = 1, a1 = 3u | 3u << 28;
  std::memcpy(&lit.qs[0], &a0, 4);
  std::memcpy(&lit.qs[2], &a1, 4);
  const auto y = decode(GgmlType::IQ2_XXS, lit);
  CHECK(y[0] == -37.625f);
  CHECK(y[1] == -7.0f);
  CHECK(y[2] == 7.0f);
}

TEST_CASE("IQ3_XXS, IQ3_S layout: two 4-element grid entries per sign byte") {
  auto xxs = random_block<BlockIq3Xxs>();
  xxs.d = half(0.5f);
  auto s = random_block<BlockIq3S>();
  s.d = half(0.25f);
  std::vector<float> wxxs(256), ws(256);
  for (int e = 0; e < 256; ++e) {
    const int ib = e / 32, l = (e % 32) / 8, j = e % 8, half_j = j / 4;
    uint32_t aux;
    std::memcpy(&aux, &xxs.qs[64 + 4 * ib], 4);
    const float dxxs = 0.5f * (0.5f + (aux >> 28)) * 0.5f;
    const uint32_t gx = iq::kIq3xxsGrid[xxs.qs[8 * ib + 2 * l + half_j]];
    wxxs[e] = dxxs * grid_byte(gx, j % 4) * sign_of(sign_byte((aux >> (7 * l)) & 127), j);
    const int i = 2 * l + half_j;  // grid index i of the group: its 9th bit is bit i of qh
    const uint32_t gs = iq::kIq3sGrid[s.qs[8 * ib + i] | ((s.qh[ib] >> i) & 1) << 8];
    const float dss = 0.25f * (1 + 2 * ((s.scales[ib / 2] >> (4 * (ib % 2))) & 15));
    ws[e] = dss * grid_byte(gs, j % 4) * sign_of(s.signs[4 * ib + l], j);
  }
  check_equal(decode(GgmlType::IQ3_XXS, xxs), wxxs);
  check_equal(decode(GgmlType::IQ3_S, s), ws);
}

TEST_CASE("IQ1_S, IQ1_M layout: -1/0/+1 grid plus a signed delta, IQ1_M's d in the scale nibbles") {
  auto s = random_block<BlockIq1S>();
  s.d = half(0.5f);
  auto m = random_block<BlockIq1M>();
  const uint16_t dm = half(0.25f);
  uint16_t sc[4];
  std::memcpy(sc, m.scales, 8);
  for (int i = 0; i < 4; ++i) sc[i] = static_cast<uint16_t>((sc[i] & 0x0fff) | ((dm >> (4 * i)) & 15) << 12);
  std::memcpy(m.scales, sc, 8);
  std::vector<float> ws(256), wm(256);
  for (int e = 0; e < 256; ++e) {
    const int ib = e / 32, l = (e % 32) / 8, j = e % 8;
    const uint16_t qh = s.qh[ib];
    const float dl = 0.5f * (2 * ((qh >> 12) & 7) + 1);
    const float delta = qh & 0x8000 ? -0.125f : 0.125f;
    const int idx = s.qs[4 * ib + l] | ((qh >> (3 * l)) & 7) << 8;
    ws[e] = dl * (static_cast<int8_t>(grid_byte(iq::kIq1sGrid[idx], j)) + delta);
    const uint8_t qhm = static_cast<uint8_t>(m.qh[2 * ib + l / 2] >> (4 * (l % 2)));  // this part's nibble
    const int scale = (sc[ib / 2] >> (6 * (ib % 2) + 3 * (l / 2))) & 7;
    const float dlm = 0.25f * (2 * scale + 1);
    const float dm_delta = qhm & 8 ? -0.125f : 0.125f;
    const int idm = m.qs[4 * ib + l] | (qhm & 7) << 8;
    wm[e] = dlm * (static_cast<int8_t>(grid_byte(iq::kIq1sGrid[idm], j)) + dm_delta);
  }
  check_equal(decode(GgmlType::IQ1_S, s), ws);
  check_equal(decode(GgmlType::IQ1_M, m), wm);
}

TEST_CASE("new quantizers: known blocks, round-trip error bounds, odd row counts") {
  // MXFP4: amax 6 gives e = floor(log2 6) - 2 + 127 = 127, so e2m1 values come back exactly.
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = kE2m1[j % 16];
  check_equal(dequantize(GgmlType::MXFP4, quantize(GgmlType::MXFP4, x), 32), x);
  CHECK(quantize(GgmlType::MXFP4, x)[0] == 127);
  // Q5_0: the signed max maps to level 0, d = max / -16.
  x.assign(32, 0.0f);
  x[5] = -8.0f;
  x[6] = 4.0f;
  const auto q50 = quantize(GgmlType::Q5_0, x);
  CHECK(f16_to_f32(uint16_t(q50[0] | q50[1] << 8)) == 0.5f);
  check_equal(dequantize(GgmlType::Q5_0, q50, 32), x);

  struct Case {
    GgmlType type;
    double max_rel;  // relative RMS error on Gaussian rows, ~20% above observed
  };
  const Case cases[] = {{GgmlType::Q4_1, 0.11}, {GgmlType::Q5_0, 0.055}, {GgmlType::Q5_1, 0.055},
                        {GgmlType::MXFP4, 0.16}, {GgmlType::IQ4_NL, 0.11}, {GgmlType::IQ4_XS, 0.11},
                        {GgmlType::Q2_K, 0.40},  {GgmlType::Q3_K, 0.21}};
  std::normal_distribution<float> nd(0.0f, 0.02f);
  for (const auto& c : cases) {
    CAPTURE(ggml_type_name(c.type));
    // 3 rows of 5 super-blocks: an odd row count and blocks of every position.
    const size_t rows = 3, cols = 5 * 256;
    std::vector<float> xs(rows * cols);
    for (auto& v : xs) v = nd(rng());
    const size_t rb = ggml_row_bytes(c.type, cols);
    std::vector<uint8_t> q(rows * rb);
    std::vector<float> y(rows * cols, NAN);
    for (size_t r = 0; r < rows; ++r) {
      quantize_row(c.type, xs.data() + r * cols, q.data() + r * rb, cols);
      dequantize_row(c.type, q.data() + r * rb, y.data() + r * cols, cols);
    }
    const double err = test::rel_l2(y, xs);
    MESSAGE(ggml_type_name(c.type) << " relative RMS error " << err);
    CHECK(err < c.max_rel);
    CHECK(quantize(c.type, xs) == q);  // whole-tensor and per-row quantization agree
    std::vector<float> zeros(cols, 0.0f);
    for (float v : dequantize(c.type, quantize(c.type, zeros), cols)) CHECK(v == 0.0f);
  }
}

TEST_CASE("types without a ggml reference quantizer refuse to quantize, naming the type") {
  std::vector<float> x(256, 1.0f);
  for (GgmlType t : {GgmlType::IQ2_XXS, GgmlType::IQ2_XS, GgmlType::IQ2_S, GgmlType::IQ3_XXS, GgmlType::IQ3_S,
                     GgmlType::IQ1_S, GgmlType::IQ1_M}) {
    CAPTURE(ggml_type_name(t));
    CHECK(codec_supported(t));
    CHECK_FALSE(quantizer_supported(t));
    CHECK_THROWS_WITH_AS(quantize(t, x), doctest::Contains(std::string(ggml_type_name(t)).c_str()), std::invalid_argument);
    CHECK_THROWS_WITH_AS(quantize(t, x), doctest::Contains("reference quantizer"), std::invalid_argument);
  }
  CHECK_FALSE(codec_supported(GgmlType::TQ1_0));
  CHECK_THROWS_WITH_AS(dequantize(GgmlType::TQ1_0, std::vector<uint8_t>(54), 256), doctest::Contains("tq1_0"),
                       std::invalid_argument);
}
