// Dequantizers of the grid ("i-quant") types IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S and
// IQ1_M, as ggml-quants.c's dequantize_row_* (same float operation order). ggml has no reference
// quantizer for them (its quantizers need importance-matrix search tables), so neither do we.
#include <cstring>

#include "runtime/quant/half.h"
#include "runtime/quant/iq_tables.h"
#include "runtime/quant/quant_blocks.h"
#include "runtime/quant/quant_impl.h"

namespace vkmoe::quant_detail {

namespace {

constexpr float kIq1Delta = 0.125f;  // ggml's IQ1S_DELTA and IQ1M_DELTA

uint8_t grid_byte(uint64_t entry, int j) { return static_cast<uint8_t>(entry >> (8 * j)); }

// 8 outputs db * grid[j] * (sign bit j ? -1 : 1), the IQ2 family's inner loop.
void signed_grid8(float db, uint64_t grid, uint8_t signs, float* y) {
  for (int j = 0; j < 8; ++j) y[j] = db * grid_byte(grid, j) * (signs & (1u << j) ? -1.f : 1.f);
}

void dequantize_block(const BlockIq2Xxs& x, float* y) {
  const float d = f16_to_f32(x.d);
  for (int ib = 0; ib < 8; ++ib) {
    uint32_t aux[2];
    std::memcpy(aux, x.qs + 4 * ib, 8);
    const float db = d * (0.5f + (aux[1] >> 28)) * 0.25f;
    for (int l = 0; l < 4; ++l, y += 8)
      signed_grid8(db, iq::kIq2xxsGrid[(aux[0] >> (8 * l)) & 255], iq::kSignsIq2xs[(aux[1] >> 7 * l) & 127], y);
  }
}

void dequantize_block(const BlockIq2Xs& x, float* y) {
  const float d = f16_to_f32(x.d);
  for (int ib = 0; ib < 8; ++ib) {
    const float db[2] = {d * (0.5f + (x.scales[ib] & 0xf)) * 0.25f, d * (0.5f + (x.scales[ib] >> 4)) * 0.25f};
    for (int l = 0; l < 4; ++l, y += 8) {
      const uint16_t q = x.qs[4 * ib + l];
      signed_grid8(db[l / 2], iq::kIq2xsGrid[q & 511], iq::kSignsIq2xs[q >> 9], y);
    }
  }
}

void dequantize_block(const BlockIq2S& x, float* y) {
  const float d = f16_to_f32(x.d);
  for (int ib = 0; ib < 8; ++ib) {
    const float db[2] = {d * (0.5f + (x.scales[ib] & 0xf)) * 0.25f, d * (0.5f + (x.scales[ib] >> 4)) * 0.25f};
    for (int l = 0; l < 4; ++l, y += 8) {
      const int idx = x.qs[4 * ib + l] | ((x.qh[ib] << (8 - 2 * l)) & 0x300);
      signed_grid8(db[l / 2], iq::kIq2sGrid[idx], x.qs[32 + 4 * ib + l], y);
    }
  }
}

// Two 4-element grid entries under one sign byte (IQ3 types).
void signed_grid4x2(float db, uint32_t g1, uint32_t g2, uint8_t signs, float* y) {
  for (int j = 0; j < 4; ++j) {
    y[j] = db * grid_byte(g1, j) * (signs & (1u << j) ? -1.f : 1.f);
    y[j + 4] = db * grid_byte(g2, j) * (signs & (1u << (j + 4)) ? -1.f : 1.f);
  }
}

void dequantize_block(const BlockIq3Xxs& x, float* y) {
  const float d = f16_to_f32(x.d);
  for (int ib = 0; ib < 8; ++ib) {
    uint32_t aux;
    std::memcpy(&aux, x.qs + 64 + 4 * ib, 4);
    const float db = d * (0.5f + (aux >> 28)) * 0.5f;
    const uint8_t* qs = x.qs + 8 * ib;
    for (int l = 0; l < 4; ++l, y += 8)
      signed_grid4x2(db, iq::kIq3xxsGrid[qs[2 * l]], iq::kIq3xxsGrid[qs[2 * l + 1]],
                     iq::kSignsIq2xs[(aux >> 7 * l) & 127], y);
  }
}

void dequantize_block(const BlockIq3S& x, float* y) {
  const float d = f16_to_f32(x.d);
  for (int ib = 0; ib < 8; ++ib) {
    const float db = d * (1 + 2 * ((x.scales[ib / 2] >> (4 * (ib % 2))) & 0xf));
    const uint8_t* qs = x.qs + 8 * ib;
    const int qh = x.qh[ib];
    for (int l = 0; l < 4; ++l, y += 8)
      signed_grid4x2(db, iq::kIq3sGrid[qs[2 * l] | ((qh << (8 - 2 * l)) & 256)],
                     iq::kIq3sGrid[qs[2 * l + 1] | ((qh << (7 - 2 * l)) & 256)], x.signs[4 * ib + l], y);
  }
}

// 8 outputs dl * (grid[j] + delta) with IQ1's int8 grid values.
void iq1_grid8(float dl, uint64_t grid, float delta, float* y) {
  for (int j = 0; j < 8; ++j) y[j] = dl * (static_cast<int8_t>(grid_byte(grid, j)) + delta);
}

void dequantize_block(const BlockIq1S& x, float* y) {
  const float d = f16_to_f32(x.d);
  for (int ib = 0; ib < 8; ++ib) {
    const uint16_t qh = x.qh[ib];
    const float dl = d * (2 * ((qh >> 12) & 7) + 1);
    const float delta = qh & 0x8000 ? -kIq1Delta : kIq1Delta;
    for (int l = 0; l < 4; ++l, y += 8) iq1_grid8(dl, iq::kIq1sGrid[x.qs[4 * ib + l] | (((qh >> 3 * l) & 7) << 8)], delta, y);
  }
}

void dequantize_block(const BlockIq1M& x, float* y) {
  uint16_t sc[4];
  std::memcpy(sc, x.scales, 8);
  // The f16 super-block scale is spread over the top nibbles of the four scale words.
  const uint16_t d16 = static_cast<uint16_t>((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
  const float d = f16_to_f32(d16);
  for (int ib = 0; ib < 8; ++ib) {
    const float dl1 = d * (2 * ((sc[ib / 2] >> (6 * (ib % 2) + 0)) & 0x7) + 1);
    const float dl2 = d * (2 * ((sc[ib / 2] >> (6 * (ib % 2) + 3)) & 0x7) + 1);
    const uint8_t* qs = x.qs + 4 * ib;
    const uint8_t* qh = x.qh + 2 * ib;
    const int idx[4] = {qs[0] | ((qh[0] << 8) & 0x700), qs[1] | ((qh[0] << 4) & 0x700), qs[2] | ((qh[1] << 8) & 0x700),
                        qs[3] | ((qh[1] << 4) & 0x700)};
    const float delta[4] = {qh[0] & 0x08 ? -kIq1Delta : kIq1Delta, qh[0] & 0x80 ? -kIq1Delta : kIq1Delta,
                            qh[1] & 0x08 ? -kIq1Delta : kIq1Delta, qh[1] & 0x80 ? -kIq1Delta : kIq1Delta};
    for (int l = 0; l < 4; ++l, y += 8) iq1_grid8(l < 2 ? dl1 : dl2, iq::kIq1sGrid[idx[l]], delta[l], y);
  }
}

template <typename Block>
RowCodec dequant_only() {
  return {nullptr, dequantize_blocks<Block, dequantize_block>};
}

}  // namespace

std::optional<RowCodec> iq_codec(GgmlType t) {
  switch (t) {
    case GgmlType::IQ2_XXS: return dequant_only<BlockIq2Xxs>();
    case GgmlType::IQ2_XS: return dequant_only<BlockIq2Xs>();
    case GgmlType::IQ2_S: return dequant_only<BlockIq2S>();
    case GgmlType::IQ3_XXS: return dequant_only<BlockIq3Xxs>();
    case GgmlType::IQ3_S: return dequant_only<BlockIq3S>();
    case GgmlType::IQ1_S: return dequant_only<BlockIq1S>();
    case GgmlType::IQ1_M: return dequant_only<BlockIq1M>();
    default: return std::nullopt;
  }
}

}  // namespace vkmoe::quant_detail
