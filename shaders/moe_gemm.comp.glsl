#version 450
// Batched path of the MoE experts: a grouped GEMM over the tiles moe_route laid out, each
// tile MOE_TILE_SLOTS slots of one expert. Workgroup (x, y) computes weight rows
// [x * BM, x * BM + BM) for tile y through shared-memory tiles; tiles past the last used one
// (and so experts without tokens) exit at once.
// GATE_UP=1: h[slot, r] = silu(gate_e[r] . x_t) * (up_e[r] . x_t)  (glu(): with MOE_BIAS and
//   MOE_SWIGLU_OAI, gpt-oss's clamped SwiGLU of the biased gate and up)
// GATE_UP=0: y[slot, r] = down_e[r] . h[slot]   (moe_combine weighs and sums the slots)
// MOE_FIXED_EXPERT (shared expert): no route; tile y holds slots y * BN .. in order.
// The weight tensors always span MOE_MAX_PIECES bindings (unused ones repeat piece 0).
#define USE_MOE_PARAMS
#include "moe_params.h"

#define PIECES MOE_MAX_PIECES
#define WG 128
#define BN MOE_TILE_SLOTS  // slots per tile
#define BK 32              // dot-product columns per step: 4 chunks of 8
#define BKP (BK + 1)       // padded row stride against bank conflicts
layout(local_size_x = WG) in;
layout(constant_id = 0) const uint BM = 64;  // weight rows per tile: 64 or 32 (shared memory)
const uint TM = BM / 16;                     // rows per invocation: 16 x 8 invocations

#if GATE_UP
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Route { uint route[]; };
layout(std430, binding = 2) writeonly buffer H { float h[]; };
#define WA_BINDING 3
#define WB_BINDING (3 + PIECES)
layout(std430, binding = 3 + 2 * PIECES) readonly buffer BGU { float bias_gu[]; };  // MOE_BIAS: [2][E][F]
#define NA 2
#else
layout(std430, binding = 0) readonly buffer H { float h[]; };
layout(std430, binding = 1) readonly buffer Route { uint route[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
#define WA_BINDING 3
#define NA 1
#endif

#include "moe_weights.glsl"
#include "dequant.glsl"
#include "moe_common.glsl"

shared float sa[NA * BM * BKP];
shared float sb[BN * BKP];
shared uint slots[BN];

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint tile = gl_WorkGroupID.y;
  const uint row0 = gl_WorkGroupID.x * BM;
  const bool fixed_expert = (p.flags & MOE_FIXED_EXPERT) != 0;
  const uint nslots = p.tokens * p.k;
  uint e;
  if (fixed_expert) {
    e = 0;
    if (tile * BN >= nslots) return;
  } else {
    e = route[p.experts + tile];
    if (e == MOE_EMPTY_SLOT) return;  // uniform: the whole tile is unused
  }
  if (tid < BN) {
    const uint s = tile * BN + tid;
    slots[tid] = fixed_expert ? (s < nslots ? s : MOE_EMPTY_SLOT) : route[p.experts + p.max_tiles + s];
  }

  const uint ty = tid / 8, tx = tid % 8;  // rows ty * TM.., slots tx * 4..
  float acc[NA][4][4];
  for (uint a = 0; a < NA; ++a)
    for (uint i = 0; i < 4; ++i)
      for (uint j = 0; j < 4; ++j) acc[a][i][j] = 0.0;
  barrier();

  for (uint k0 = 0; k0 < p.cols; k0 += BK) {
    // Weight tiles: NA x BM rows x 4 chunks of 8, dequantized once into shared memory.
    for (uint i = tid; i < NA * BM * 4; i += WG) {
      const uint a = i / (BM * 4), rr = (i / 4) % BM, c = i % 4;
      uint piece;
      const uint start = row_start(e, min(row0 + rr, p.rows - 1), a, piece);
      float v[8];
      dequant8(a, piece, start, k0 / 8 + c, p.cols, v);
      for (uint q = 0; q < 8; ++q) sa[(a * BM + rr) * BKP + c * 8 + q] = v[q];
    }
    // Input tile: BN slots x BK columns of x (by token) or h (by slot).
    for (uint i = tid; i < BN * BK; i += WG) {
      const uint jj = i / BK, kk = i % BK, col = k0 + kk;
      const uint s = slots[jj];
      float v = 0.0;
      if (s != MOE_EMPTY_SLOT && col < p.cols) {
#if GATE_UP
        v = x[(p.token_base + s / p.k) * p.cols + col];
#else
        v = h[s * p.cols + col];
#endif
      }
      sb[jj * BKP + kk] = v;
    }
    barrier();
    for (uint kk = 0; kk < BK; ++kk) {
      float b[4];
      for (uint j = 0; j < 4; ++j) b[j] = sb[(tx * 4 + j) * BKP + kk];
      for (uint a = 0; a < NA; ++a)
        for (uint i = 0; i < TM; ++i) {
          const float w = sa[(a * BM + ty * TM + i) * BKP + kk];
          for (uint j = 0; j < 4; ++j) acc[a][i][j] += w * b[j];
        }
    }
    barrier();
  }

  for (uint i = 0; i < TM; ++i) {
    const uint row = row0 + ty * TM + i;
    if (row >= p.rows) continue;
    for (uint j = 0; j < 4; ++j) {
      const uint s = slots[tx * 4 + j];
      if (s == MOE_EMPTY_SLOT) continue;
#if GATE_UP
      float g = acc[0][i][j], u = acc[1][i][j];
      if ((p.flags & MOE_BIAS) != 0) {
        g += bias_gu[e * p.rows + row];
        u += bias_gu[(p.experts + e) * p.rows + row];
      }
      h[s * p.rows + row] = glu(g, u);
#else
      y[s * p.rows + row] = acc[0][i][j];
#endif
    }
  }
}
