// Byte layouts of the GGML block types added for issue 11 (ggml-common.h's block_*), for the
// codecs and for tests that build blocks by hand. Fields are bytes or little-endian 16-bit
// words, so there is no padding; d/m/dmin are f16.
#pragma once
#include <cstddef>
#include <cstdint>

namespace vkmoe {

// y = d * q + m, q 4-bit; qs[j] holds element j (low nibble) and j + 16 (high nibble).
struct BlockQ4_1 {
  static constexpr size_t kElems = 32;
  uint16_t d, m;
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ4_1) == 20);

// y = d * (q - 16), q 5-bit: low nibbles as Q4_0, bit j of the little-endian qh is element j's 5th bit.
struct BlockQ5_0 {
  static constexpr size_t kElems = 32;
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ5_0) == 22);

// y = d * q + m, q 5-bit, bits as Q5_0.
struct BlockQ5_1 {
  static constexpr size_t kElems = 32;
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ5_1) == 24);

// y = kvalues_mxfp4[q] * 2^(e - 128) (e2m1 values doubled, e8m0 scale halved); nibbles as Q4_0.
struct BlockMxfp4 {
  static constexpr size_t kElems = 32;
  uint8_t e;
  uint8_t qs[16];
};
static_assert(sizeof(BlockMxfp4) == 17);

// y = d * kvalues_iq4nl[q]; nibbles as Q4_0.
struct BlockIq4Nl {
  static constexpr size_t kElems = 32;
  uint16_t d;
  uint8_t qs[16];
};
static_assert(sizeof(BlockIq4Nl) == 18);

// 16 sub-blocks of 16: scales[j] = scale | min << 4; y = d * scale * q - dmin * min, q 2-bit.
// Element 128h + 32k + l (k < 4, l < 32) is bits 2k..2k+1 of qs[32h + l]; its sub-block is 8h + 2k + l/16.
struct BlockQ2K {
  static constexpr size_t kElems = 256;
  uint8_t scales[16];
  uint8_t qs[64];
  uint16_t d, dmin;
};
static_assert(sizeof(BlockQ2K) == 84);

// 16 sub-blocks of 16 with 6-bit signed scales (stored + 32): low 4 bits of scale j in the nibble
// j / 8 of scales[j % 8], top 2 bits at bit 2 (j / 4) of scales[8 + j % 4]. y = d * (sc - 32) * q,
// q = the 2 low bits (placed as Q2_K's) - 4 unless the high bit is set: element 128h + 32k + l
// has it at bit 4h + k of hmask[l].
struct BlockQ3K {
  static constexpr size_t kElems = 256;
  uint8_t hmask[32];
  uint8_t qs[64];
  uint8_t scales[12];
  uint16_t d;
};
static_assert(sizeof(BlockQ3K) == 110);

// 8 groups of 32: qs[4g..4g+3] as two uint32 a, b: the 4 bytes of a index kIq2xxsGrid (8 elements
// each), b holds four 7-bit sign indices (bits 7l..7l+6) and the 4-bit scale in bits 28..31.
// y = d * (0.5 + s) * 0.25 * grid * sign.
struct BlockIq2Xxs {
  static constexpr size_t kElems = 256;
  uint16_t d;
  uint16_t qs[32];
};
static_assert(sizeof(BlockIq2Xxs) == 66);

// qs[4g + l]: 9-bit index into kIq2xsGrid, 7-bit sign index above; scales[g]: nibble per half group.
struct BlockIq2Xs {
  static constexpr size_t kElems = 256;
  uint16_t d;
  uint16_t qs[32];
  uint8_t scales[8];
};
static_assert(sizeof(BlockIq2Xs) == 74);

// qs[0..31]: low 8 bits of 10-bit kIq2sGrid indices (qh[g] bits 2l..2l+1 on top); qs[32..63]: one
// sign byte per 8 elements; scales as IQ2_XS.
struct BlockIq2S {
  static constexpr size_t kElems = 256;
  uint16_t d;
  uint8_t qs[64];
  uint8_t qh[8];
  uint8_t scales[8];
};
static_assert(sizeof(BlockIq2S) == 82);

// qs[0..63]: kIq3xxsGrid indices (4 elements each); qs[64..95]: per group of 32 a uint32 with four
// 7-bit sign indices and the 4-bit scale on top. y = d * (0.5 + s) * 0.5 * grid * sign.
struct BlockIq3Xxs {
  static constexpr size_t kElems = 256;
  uint16_t d;
  uint8_t qs[96];
};
static_assert(sizeof(BlockIq3Xxs) == 98);

// qs: low 8 bits of 9-bit kIq3sGrid indices (qh[g] bit i on top of index i of group g); signs: one
// byte per 8 elements; scales: a nibble per group of 32. y = d * (1 + 2 s) * grid * sign.
struct BlockIq3S {
  static constexpr size_t kElems = 256;
  uint16_t d;
  uint8_t qs[64];
  uint8_t qh[8];
  uint8_t signs[32];
  uint8_t scales[4];
};
static_assert(sizeof(BlockIq3S) == 110);

// qs[4g + l] | bits 3l..3l+2 of qh[g] << 8: an 11-bit kIq1sGrid index; qh[g] bits 12..14: scale s,
// bit 15: the sign of delta. y = d * (2 s + 1) * (grid + delta), delta = +-0.125.
struct BlockIq1S {
  static constexpr size_t kElems = 256;
  uint16_t d;
  uint8_t qs[32];
  uint16_t qh[8];
};
static_assert(sizeof(BlockIq1S) == 50);

// No d field: the f16 d is the top nibbles of the four little-endian uint16 of scales. qh[2g + h]:
// low 3 bits / bits 4..6 the index high bits of the two 8-element parts, bits 3 / 7 their delta
// signs; 3-bit scales per 16 elements in the uint16 scales.
struct BlockIq1M {
  static constexpr size_t kElems = 256;
  uint8_t qs[32];
  uint8_t qh[16];
  uint8_t scales[8];
};
static_assert(sizeof(BlockIq1M) == 56);

// 8 sub-blocks of 32 with 6-bit scales (stored + 32): low nibble in scales_l, top 2 bits in
// scales_h. y = d * (ls - 32) * kvalues_iq4nl[q]; nibbles per sub-block as Q4_0.
struct BlockIq4Xs {
  static constexpr size_t kElems = 256;
  uint16_t d;
  uint16_t scales_h;
  uint8_t scales_l[4];
  uint8_t qs[128];
};
static_assert(sizeof(BlockIq4Xs) == 136);

}  // namespace vkmoe
