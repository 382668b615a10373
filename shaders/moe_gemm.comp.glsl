#version 450
#extension GL_EXT_control_flow_attributes : require
// Batched path of the MoE experts: a grouped GEMM over the tiles moe_route laid out, each tile
// MOE_TILE_SLOTS slots of one expert. Register tiles, no shared memory, no barrier (the IQ grid
// types' dequant_prologue aside): workgroup
// x = (row block, part) computes GR rows per invocation (of each tensor) for the GT slots
// `part` of tile y; the slots are the same for the whole workgroup, so each x (or h) load
// has one address for all invocations (one load and a broadcast on a SIMD CPU, an L1 broadcast
// on a GPU), and each step of a weight row (8 columns by dequant8)
// is dequantized once for GT slots. Tiles past the last used one, and slot groups that are all
// padding, exit at once.
// GATE_UP=1: h[slot, r] = silu(gate_e[r] . x_t) * (up_e[r] . x_t)  (glu(): with MOE_BIAS and
//   MOE_SWIGLU_OAI, gpt-oss's clamped SwiGLU of the biased gate and up)
// GATE_UP=0: y[slot, r] = down_e[r] . h[slot]   (moe_combine weighs and sums the slots)
// GATE_UP=1 with PROJ (specialization constant 7) 1 or 2: gate and up of different types, one
//   pass each over tensor a alone (as moe_matvec's PROJ): 1 writes h = gate . x, 2 then
//   h = glu(h, up . x). An invocation's NA * GR rows are then all rows of tensor a.
// MOE_FIXED_EXPERT (shared expert): no route; tile y holds slots y * MOE_TILE_SLOTS .. in order.
// The weight tensors span MOE_MAX_PIECES bindings (unused ones repeat piece 0), WEIGHT_PIECES used.
#define USE_MOE_PARAMS
#include "moe_params.h"

#define PIECES MOE_MAX_PIECES
#define GT MOE_GEMM_SLOTS        // slots per workgroup
#define PARTS (MOE_TILE_SLOTS / GT)
layout(local_size_x_id = 0) in;  // from the device's subgroup size (gemm_workgroup, matmul.cpp)
layout(constant_id = 1) const bool X_VEC4 = false;  // p.cols % 4 == 0: x / h rows read as vec4
#define WG gl_WorkGroupSize.x

#if GATE_UP
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(std430, binding = 1) readonly buffer Route { uint route[]; };
layout(std430, binding = 2) buffer H { float h[]; };  // read back by PROJ = 2
#define WA_BINDING 3
#define WB_BINDING (3 + PIECES)
layout(std430, binding = 3 + 2 * PIECES) readonly buffer BGU { float bias_gu[]; };  // MOE_BIAS: [2][E][F]
#define NA 2
#define GR (MOE_GEMM_ROWS / 2)  // rows of each of gate and up
layout(constant_id = 7) const uint PROJ = 0;
#else
layout(std430, binding = 0) readonly buffer H { float x[]; };  // h, read as the input
layout(std430, binding = 0) readonly buffer H4 { vec4 x4[]; };
layout(std430, binding = 1) readonly buffer Route { uint route[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
#define WA_BINDING 3
#define NA 1
#define GR MOE_GEMM_ROWS
#define PROJ 0
#endif
// Tensor (0 = a, 1 = b) and row of the invocation's weight row r of part a, from its first row
// row0: fused, part a reads tensor a; PROJ passes read tensor a only, part 1 GR * WG rows on.
#define PART_TENSOR(a) (PROJ == 0 ? (a) : 0u)
#define PART_ROW(row0, a, r) ((row0) + WG * (r) + (PROJ == 0 ? 0u : (a) * GR * WG))

// Specialization constant 3: the weight's pieces (1 spares every load its piece branch).
layout(constant_id = 3) const uint WEIGHT_PIECES = MOE_MAX_PIECES;
#define PIECES_USED WEIGHT_PIECES
#include "moe_weights.glsl"
#include "dequant.glsl"
#include "moe_common.glsl"
#define NW (NA * GR)
#include "gemm_tile.glsl"
uint piece[NA][GR], start[NA][GR];  // the invocation's weight rows (set by main)
void tile_weights(uint c, out float w[NW][TILE_K]) {
  [[unroll]] for (uint a = 0; a < NA; ++a)
    [[unroll]] for (uint r = 0; r < GR; ++r) tile_row(PART_TENSOR(a), piece[a][r], start[a][r], c, w[a * GR + r]);
}
void tile_scale_input(uint c, uint j, inout float v[TILE_K]) {}

// Input row of slot s: x by token (gate/up) or h by slot (down). Empty slots read slot 0's.
uint input_row(uint s) {
  if (s == MOE_EMPTY_SLOT) s = 0;
#if GATE_UP
  return (p.token_base + s / p.k) * p.cols;
#else
  return s * p.cols;
#endif
}

#if GATE_UP
// PROJ 1 / 2: h = gate . x, then h = glu(h, up . x), each with its bias (MOE_BIAS).
void store_proj(uint e, uint row0, uint slot[GT], float acc[NW * GT]) {
  [[unroll]] for (uint a = 0; a < NA; ++a)
    [[unroll]] for (uint r = 0; r < GR; ++r) {
      const uint row = PART_ROW(row0, a, r);
      if (row >= p.rows) continue;
      [[unroll]] for (uint j = 0; j < GT; ++j) {
        if (slot[j] == MOE_EMPTY_SLOT) continue;
        float v = acc[(a * GR + r) * GT + j];
        if ((p.flags & MOE_BIAS) != 0) v += bias_gu[((PROJ == 2 ? p.experts : 0u) + e) * p.rows + row];
        const uint o = slot[j] * p.rows + row;
        h[o] = PROJ == 1 ? v : glu(h[o], v);
      }
    }
}
#endif

void main() {
  dequant_prologue();
  const uint lid = gl_LocalInvocationID.x, tile = gl_WorkGroupID.y;
  const uint part = gl_WorkGroupID.x % PARTS;
  const uint row0 = gl_WorkGroupID.x / PARTS * (GR * WG * (PROJ == 0 ? 1u : NA)) + lid;
  const bool fixed_expert = (p.flags & MOE_FIXED_EXPERT) != 0;
  const uint nslots = p.tokens * p.k, s0 = tile * MOE_TILE_SLOTS + part * GT;
  uint e = 0;
  if (!fixed_expert) {
    e = route[p.experts + tile];
    if (e == MOE_EMPTY_SLOT) return;  // uniform: the whole tile is unused
  }
  uint slot[GT], xrow[GT];
  bool any = false;
  [[unroll]] for (uint j = 0; j < GT; ++j) {
    const uint s = s0 + j;
    slot[j] = fixed_expert ? (s < nslots ? s : MOE_EMPTY_SLOT) : route[p.experts + p.max_tiles + s];
    xrow[j] = input_row(slot[j]);
    any = any || slot[j] != MOE_EMPTY_SLOT;
  }
  if (!any) return;  // uniform: these slots are padding

  [[unroll]] for (uint a = 0; a < NA; ++a)
    [[unroll]] for (uint r = 0; r < GR; ++r) start[a][r] = row_start(e, min(PART_ROW(row0, a, r), p.rows - 1), PART_TENSOR(a), piece[a][r]);
  float acc[NW * GT];
  tile_loop(xrow, acc);
#if GATE_UP
  if (PROJ != 0) {
    store_proj(e, row0, slot, acc);
    return;
  }
#endif

  [[unroll]] for (uint r = 0; r < GR; ++r) {
    const uint row = row0 + WG * r;
    if (row >= p.rows) continue;
    [[unroll]] for (uint j = 0; j < GT; ++j) {
      const uint s = slot[j];
      if (s == MOE_EMPTY_SLOT) continue;
#if GATE_UP
      float g = acc[r * GT + j], u = acc[(GR + r) * GT + j];
      if ((p.flags & MOE_BIAS) != 0) {
        g += bias_gu[e * p.rows + row];
        u += bias_gu[(p.experts + e) * p.rows + row];
      }
      h[s * p.rows + row] = glu(g, u);
#else
      y[s * p.rows + row] = acc[r * GT + j];
#endif
    }
  }
}
