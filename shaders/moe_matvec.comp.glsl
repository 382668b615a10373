#version 450
// Decode path of the MoE experts (few tokens): only the chosen experts' rows are read.
// GATE_UP=1: h[slot, r] = silu(gate_e[r] . x_t) * (up_e[r] . x_t) for each slot (t, j) with
//   e = ids[t, j]; one workgroup per (NR rows, slot).
// GATE_UP=0: out[t, r] (+)= sum_j w[t, j] * (down_e[r] . h[t, j]); one workgroup per (NR rows,
//   token) owns every slot of the token, so the sum is in a fixed order (no float atomics).
// USE_SUBGROUP=1 reduces with subgroupAdd, else through shared memory. SPLIT=1: the weight
// tensors span MOE_MAX_PIECES bindings.
#if USE_SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#define USE_MOE_PARAMS
#include "moe_params.h"

#define WG 64
#define NR 4  // weight rows per workgroup: x (or h) is loaded once for all of them
#if SPLIT
#define PIECES MOE_MAX_PIECES
#else
#define PIECES 1
#endif
layout(local_size_x = WG) in;

#if GATE_UP
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Ids { uint ids[]; };
layout(std430, binding = 2) writeonly buffer H { float h[]; };
#define WA_BINDING 3
#define WB_BINDING (3 + PIECES)
#define NV (2 * NR)
#else
layout(std430, binding = 0) readonly buffer H { float h[]; };
layout(std430, binding = 1) readonly buffer Ids { uint ids[]; };
layout(std430, binding = 2) readonly buffer W { float route_w[]; };
layout(std430, binding = 3) buffer Out { float out_[]; };
#define WA_BINDING 4
#define NV NR
#endif

#include "moe_weights.glsl"
#include "dequant.glsl"
#define MOE_IDS
#include "moe_common.glsl"

// reduce_wg: sums each of the NV values over the workgroup; totals valid in invocation 0.
#define WG_REDUCE_N NV
#include "wg_reduce.glsl"
#define reduce_wg wg_sum_n

// The 8 inputs of chunk c of a vector of p.cols floats starting at `base`, 0 past the end.
void load_input8(uint base, uint c, out float v[8]) {
  for (uint i = 0; i < 8; ++i) {
    const uint col = 8u * c + i;
#if GATE_UP
    v[i] = col < p.cols ? x[base + col] : 0.0;
#else
    v[i] = col < p.cols ? h[base + col] : 0.0;
#endif
  }
}

float dot8(float a[8], float b[8]) {
  float s = 0.0;
  for (uint i = 0; i < 8; ++i) s += a[i] * b[i];
  return s;
}

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint row0 = gl_WorkGroupID.x * NR;
  const uint chunks = (p.cols + 7u) / 8u;
  float acc[NV];
  for (uint i = 0; i < NV; ++i) acc[i] = 0.0;

#if GATE_UP
  const uint slot = gl_WorkGroupID.y;  // t * k + j within the chunk
  const uint t = slot / p.k;
  const uint e = expert_of(p.token_base * p.k + slot);
  if (e == EMPTY) return;  // uniform: the down kernel skips this slot too
  uint piece;
  uint ra[NR], rb[NR];
  for (uint r = 0; r < NR; ++r) {
    const uint row = min(row0 + r, p.rows - 1);  // rows past the end repeat the last, unwritten
    ra[r] = row_start(e, row, 0, piece);
    rb[r] = row_start(e, row, 1, piece);
  }
  const uint xbase = (p.token_base + t) * p.cols;
  for (uint c = tid; c < chunks; c += WG) {
    float xv[8], w[8];
    load_input8(xbase, c, xv);
    for (uint r = 0; r < NR; ++r) {
      dequant8(0, piece, ra[r], c, p.cols, w);
      acc[r] += dot8(w, xv);
      dequant8(1, piece, rb[r], c, p.cols, w);
      acc[NR + r] += dot8(w, xv);
    }
  }
  reduce_wg(acc);
  if (tid == 0)
    for (uint r = 0; r < NR && row0 + r < p.rows; ++r) h[slot * p.rows + row0 + r] = silu(acc[r]) * acc[NR + r];
#else
  const uint t = gl_WorkGroupID.y;
  for (uint j = 0; j < p.k; ++j) {
    const uint slot = t * p.k + j;
    const uint gslot = p.token_base * p.k + slot;
    const uint e = expert_of(gslot);
    if (e == EMPTY) continue;
    const float weight = (p.flags & MOE_UNIT_WEIGHT) != 0 ? 1.0 : route_w[gslot];
    uint piece;
    uint ra[NR];
    for (uint r = 0; r < NR; ++r) ra[r] = row_start(e, min(row0 + r, p.rows - 1), 0, piece);
    float part[NR];
    for (uint r = 0; r < NR; ++r) part[r] = 0.0;
    for (uint c = tid; c < chunks; c += WG) {
      float hv[8], w[8];
      load_input8(slot * p.cols, c, hv);
      for (uint r = 0; r < NR; ++r) {
        dequant8(0, piece, ra[r], c, p.cols, w);
        part[r] += dot8(w, hv);
      }
    }
    for (uint r = 0; r < NR; ++r) acc[r] += weight * part[r];
  }
  reduce_wg(acc);
  if (tid == 0)
    for (uint r = 0; r < NR && row0 + r < p.rows; ++r) {
      const uint o = (p.token_base + t) * p.rows + row0 + r;
      out_[o] = ((p.flags & MOE_ACCUMULATE) != 0 ? out_[o] : 0.0) + acc[r];
    }
#endif
}
