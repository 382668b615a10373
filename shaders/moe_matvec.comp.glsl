#version 450
#extension GL_EXT_control_flow_attributes : require
// Decode path of the MoE experts (few tokens): only the chosen experts' rows are read.
// GATE_UP=1: h[slot, r] = silu(gate_e[r] . x_t) * (up_e[r] . x_t) for each slot (t, j) with
//   e = ids[t, j]; workgroups (ROWS_PER_WG rows, slot). With GROUP_SLOTS > 1 (T > 1) the
//   workgroup of an expert's first slot takes every slot of the chunk routed to that expert,
//   GROUP_SLOTS at a time, so each weight unit is loaded and dequantized once per pass; the
//   workgroups of its other slots return at once.
// GATE_UP=0: out[t, r] (+)= sum_j w[t, j] * (down_e[r] . h[t, j]); workgroups (ROWS_PER_WG rows,
//   token): each lane group owns every slot of its rows, so the sum is in a fixed order (no
//   float atomics).
// Lane groups of lanes.glsl (a subgroup with USE_SUBGROUP, else one invocation), RPS rows each,
// no shared memory, no barriers (the IQ grid types aside: their grid is loaded into shared
// memory once, dequant_prologue). SPLIT=1: the weight tensors span MOE_MAX_PIECES bindings
// (specialization constant 3: how many are used).
#if USE_SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#define USE_MOE_PARAMS
#include "moe_params.h"
#include "lanes.glsl"

#if SPLIT
#define PIECES MOE_MAX_PIECES
layout(constant_id = 3) const uint WEIGHT_PIECES = MOE_MAX_PIECES;
#define PIECES_USED WEIGHT_PIECES
#else
#define PIECES 1
#endif

#if GATE_UP
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 0) readonly buffer X4 { vec4 x4[]; };  // the same: vec4 loads are faster
layout(std430, binding = 1) readonly buffer Ids { uint ids[]; };
layout(std430, binding = 2) buffer H { float h[]; };  // read back by PROJ = 2
#define WA_BINDING 3
#define WB_BINDING (3 + PIECES)
#define WSA_BINDING (3 + 2 * PIECES)  // shared expert's gate and up
#define WSB_BINDING (4 + 2 * PIECES)
layout(std430, binding = 5 + 2 * PIECES) readonly buffer BGU { float bias_gu[]; };  // MOE_BIAS: [2][E][F]
layout(std430, binding = 6 + 2 * PIECES) readonly buffer RW { float route_w[]; };  // MOE_WEIGHT_INPUT
#define IN x
#define IN4 x4
#else
layout(std430, binding = 0) readonly buffer H { float h[]; };
layout(std430, binding = 0) readonly buffer H4 { vec4 h4[]; };  // the same: vec4 loads are faster
layout(std430, binding = 1) readonly buffer Ids { uint ids[]; };
layout(std430, binding = 2) readonly buffer W { float route_w[]; };
layout(std430, binding = 3) buffer Out { float out_[]; };
#define WA_BINDING 4
#define WSA_BINDING (4 + PIECES)  // shared expert's down
layout(std430, binding = 5 + PIECES) readonly buffer SG { float shared_gate[]; };
layout(std430, binding = 6 + PIECES) readonly buffer BD { float bias_d[]; };  // MOE_BIAS: [E][H]
#define IN h
#define IN4 h4
#endif
#define SHARED ((p.flags & MOE_SHARED_SLOT) != 0)
// h of the chunk: the routed slots' [tokens * k][rows], then the shared slots' [tokens][shared_f].

#include "moe_weights.glsl"
#include "dequant.glsl"
#include "dequant_unit.glsl"
#define MOE_IDS
#include "moe_common.glsl"

// Input elements 4i .. 4i + 3 of the vector at IN[4 b4]: direct_dot's "token" is the input's
// vec4 index (every input base the direct path sees is a multiple of 4: block rows hold whole
// blocks, plain float rows take it only when 16-byte aligned).
vec4 unit_x4(uint b4, uint i) { return IN4[b4 + i]; }
#include "dequant_direct.glsl"

// The 8 inputs of chunk c of a vector of p.cols floats starting at `base`, 0 past the end.
void load_input8(uint base, uint c, out float v[8]) {
  if (8u * c + 8u <= p.cols) {
    for (uint i = 0; i < 8; ++i) v[i] = IN[base + 8u * c + i];
  } else {
    for (uint i = 0; i < 8; ++i) v[i] = 8u * c + i < p.cols ? IN[base + 8u * c + i] : 0.0;
  }
}

float dot8(float a[8], float b[8]) {
  float s = 0.0;
  for (uint i = 0; i < 8; ++i) s += a[i] * b[i];
  return s;
}

#if GATE_UP
// Specialization constant 7: 0 fuses gate and up (one type); gate and up of different types
// take two passes of tensor a alone: 1 writes h = gate . x, 2 then h = glu(h, up . x) (biases
// added in each pass with MOE_BIAS).
layout(constant_id = 7) const uint PROJ = 0;
// Specialization constant 8: slots per pass of a grouped workgroup (choose_moe's group_slots,
// at most MOE_MAX_GROUP_SLOTS); 1 = one workgroup per slot.
layout(constant_id = 8) const uint GROUP_SLOTS = 1;
#define GMAX MOE_MAX_GROUP_SLOTS
const uint NO_BIAS = 0xFFFFFFFFu;

// Writes h[o] from the row's gate and up sums (PROJ 2: g holds up, h[o] gate's pass);
// bias_i: the row's index into each half of bias_gu, or NO_BIAS.
void store_h(uint o, uint bias_i, float g, float u) {
  if (bias_i != NO_BIAS) {
    g += bias_gu[(PROJ == 2 ? p.experts * p.rows : 0) + bias_i];
    if (PROJ == 0) u += bias_gu[p.experts * p.rows + bias_i];
  }
  h[o] = PROJ == 0 ? glu(g, u) : PROJ == 1 ? g : glu(h[o], g);
}

// Rows r0.. (of `rows`) of one slot: gate rows start at ra in tensor ta, up rows at rb in tb (ta
// and tb are constants at each call, so the loads keep no branch); writes h[hbase + row]. The
// gate and up biases of row i are bias_gu[bias + i] and [E * rows + bias + i] unless NO_BIAS.
// Both projections are scaled by in_weight first: (w x) . row = w (x . row), MOE_WEIGHT_INPUT.
float in_weight = 1.0;
#ifdef HAS_UNIT
// x's unit u of the row at xbase, as vec4 loads (xbase and UNIT are multiples of 4: block types
// have whole blocks, float types take units only with W_VEC4 rows).
void load_unit_x(uint xbase, uint u, out float xv[UNIT]) {
  [[unroll]] for (uint i = 0; i < UNIT / 4; ++i) {
    const vec4 v = x4[(xbase + UNIT * u) / 4u + i];
    xv[4 * i] = v.x, xv[4 * i + 1] = v.y, xv[4 * i + 2] = v.z, xv[4 * i + 3] = v.w;
  }
}
#endif
void gate_up_rows(uint ta, uint tb, uint piece, uint ra[RPS], uint rb[RPS], uint xbase, uint rows, uint r0,
                  uint hbase, uint bias) {
  float ag[RPS], au[RPS];
  for (uint r = 0; r < RPS; ++r) ag[r] = au[r] = 0.0;
#ifdef HAS_DIRECT
  // dequant_direct.glsl: each row's raw words dotted with x as it loads; gate's words are dead
  // before up's are loaded.
  for (uint u = LANE; u < direct_count(p.cols); u += LANES) {
    DirectW w[RPS];
    float s[RPS];
    [[unroll]] for (uint r = 0; r < RPS; ++r) direct_load(ta, piece, ra[r], u, w[r]);
    direct_dot(w, xbase / 4u, u, s);
    [[unroll]] for (uint r = 0; r < RPS; ++r) ag[r] += s[r];
    if (PROJ == 0) {
      [[unroll]] for (uint r = 0; r < RPS; ++r) direct_load(tb, piece, rb[r], u, w[r]);
      direct_dot(w, xbase / 4u, u, s);
      [[unroll]] for (uint r = 0; r < RPS; ++r) au[r] += s[r];
    }
  }
#elif defined(HAS_UNIT)
  for (uint u = LANE; u < unit_count(p.cols); u += LANES) {
    float xv[UNIT], sx[UNIT / 16], q[UNIT];
    vec2 ab[UNIT / 16];
    load_unit_x(xbase, u, xv);
    unit_sums(xv, sx);
    [[unroll]] for (uint r = 0; r < RPS; ++r) {
      unit_q(ta, piece, ra[r], u, q, ab);
      ag[r] += unit_dot(q, ab, xv, sx);
      if (PROJ == 0) {
        unit_q(tb, piece, rb[r], u, q, ab);
        au[r] += unit_dot(q, ab, xv, sx);
      }
    }
  }
#endif
#if TAIL_LOOP  // plain float types: unaligned rows and the tail
  const uint c0 = TAIL_CHUNK0(p.cols);
  for (uint c = c0 + LANE; c < (p.cols + 7u) / 8u; c += LANES) {
    float xv[8], w[8];
    load_input8(xbase, c, xv);
    for (uint r = 0; r < RPS; ++r) {
      dequant8(ta, piece, ra[r], c, p.cols, w);
      ag[r] += dot8(w, xv);
      if (PROJ == 0) {
        dequant8(tb, piece, rb[r], c, p.cols, w);
        au[r] += dot8(w, xv);
      }
    }
  }
#endif
  for (uint r = 0; r < RPS; ++r) {
    const float g = LANE_SUM(ag[r]) * in_weight, u = PROJ == 0 ? LANE_SUM(au[r]) * in_weight : 0.0;
    if (LANE == 0 && r0 + r < rows) store_h(hbase + r0 + r, bias == NO_BIAS ? NO_BIAS : bias + r0 + r, g, u);
  }
}

// gate_up_rows for the slots sl[i] of one expert (i < GROUP_SLOTS, a constant, so unused ones
// compile away; sl[i] >= p.tokens * p.k: none), input weights wi[i]: each weight unit is
// dequantized once and dotted with every slot's x. Each slot's values are written out per index
// (the GU_* macros), no array of arrays. Not chosen by default (choose_moe): on lavapipe every
// pass costs all GROUP_SLOTS slots' x loads and dots, as llvmpipe runs the unused slots' branches
// under a mask, so at 2-8 tokens gate/up ran 3-6x slower than one slot per workgroup.
#if GMAX != 4
#error "gate_up_group spells out 4 slots"
#endif
#define SLOT_USED(I) (I < GROUP_SLOTS && sl[I] < routed)  // uniform in the workgroup
void gate_up_group(uvec4 sl, vec4 wi, uint piece, uint ra[RPS], uint rb[RPS], uint r0, uint bias) {
  const uint routed = p.tokens * p.k;
  const uvec4 xbase = (p.token_base + min(sl, uvec4(routed - 1u)) / p.k) * p.cols;
  vec4 ag[RPS], au[RPS];  // component i: slot i
  for (uint r = 0; r < RPS; ++r) ag[r] = au[r] = vec4(0.0);
#ifdef HAS_DIRECT  // as gate_up_rows, each row's words dotted with every slot's x
#define GU_DOT(acc, I) \
  if (SLOT_USED(I)) { direct_dot(w, xbase[I] / 4u, u, s); [[unroll]] for (uint r = 0; r < RPS; ++r) acc[r][I] += s[r]; }
  for (uint u = LANE; u < direct_count(p.cols); u += LANES) {
    DirectW w[RPS];
    float s[RPS];
    [[unroll]] for (uint r = 0; r < RPS; ++r) direct_load(0, piece, ra[r], u, w[r]);
    GU_DOT(ag, 0) GU_DOT(ag, 1) GU_DOT(ag, 2) GU_DOT(ag, 3)
    if (PROJ == 0) {
      [[unroll]] for (uint r = 0; r < RPS; ++r) direct_load(1, piece, rb[r], u, w[r]);
      GU_DOT(au, 0) GU_DOT(au, 1) GU_DOT(au, 2) GU_DOT(au, 3)
    }
  }
#undef GU_DOT
#elif defined(HAS_UNIT)
#define GU_LOAD(I) float xv##I[UNIT], sx##I[UNIT / 16]; \
  if (SLOT_USED(I)) { load_unit_x(xbase[I], u, xv##I); unit_sums(xv##I, sx##I); }
#define GU_DOT(acc, I) if (SLOT_USED(I)) acc[r][I] += unit_dot(q, ab, xv##I, sx##I);
  for (uint u = LANE; u < unit_count(p.cols); u += LANES) {
    float q[UNIT];
    vec2 ab[UNIT / 16];
    GU_LOAD(0) GU_LOAD(1) GU_LOAD(2) GU_LOAD(3)
    [[unroll]] for (uint r = 0; r < RPS; ++r) {
      unit_q(0, piece, ra[r], u, q, ab);
      GU_DOT(ag, 0) GU_DOT(ag, 1) GU_DOT(ag, 2) GU_DOT(ag, 3)
      if (PROJ == 0) {
        unit_q(1, piece, rb[r], u, q, ab);
        GU_DOT(au, 0) GU_DOT(au, 1) GU_DOT(au, 2) GU_DOT(au, 3)
      }
    }
  }
#undef GU_LOAD
#undef GU_DOT
#endif
#if TAIL_LOOP
#define GU_LOAD(I) float xv##I[8]; if (SLOT_USED(I)) load_input8(xbase[I], c, xv##I);
#define GU_DOT(acc, I) if (SLOT_USED(I)) acc[r][I] += dot8(w, xv##I);
  const uint c0 = TAIL_CHUNK0(p.cols);
  for (uint c = c0 + LANE; c < (p.cols + 7u) / 8u; c += LANES) {
    float w[8];
    GU_LOAD(0) GU_LOAD(1) GU_LOAD(2) GU_LOAD(3)
    for (uint r = 0; r < RPS; ++r) {
      dequant8(0, piece, ra[r], c, p.cols, w);
      GU_DOT(ag, 0) GU_DOT(ag, 1) GU_DOT(ag, 2) GU_DOT(ag, 3)
      if (PROJ == 0) {
        dequant8(1, piece, rb[r], c, p.cols, w);
        GU_DOT(au, 0) GU_DOT(au, 1) GU_DOT(au, 2) GU_DOT(au, 3)
      }
    }
  }
#undef GU_LOAD
#undef GU_DOT
#endif
#define GU_STORE(I)                                                                                        \
  if (SLOT_USED(I))                                                                                        \
    for (uint r = 0; r < RPS; ++r) {                                                                       \
      const float g = LANE_SUM(ag[r][I]) * wi[I], u = PROJ == 0 ? LANE_SUM(au[r][I]) * wi[I] : 0.0;       \
      if (LANE == 0 && r0 + r < p.rows)                                                                    \
        store_h(sl[I] * p.rows + r0 + r, bias == NO_BIAS ? NO_BIAS : bias + r0 + r, g, u);                 \
    }
  GU_STORE(0) GU_STORE(1) GU_STORE(2) GU_STORE(3)
#undef GU_STORE
}
#undef SLOT_USED

// Slot `slot` (expert e) with GROUP_SLOTS > 1: returns unless it is e's first slot in the chunk,
// then runs the workgroup's rows for all of e's slots, GROUP_SLOTS per pass, in slot order.
void gate_up_grouped(uint slot, uint e, uint row0) {
  const uint gs = p.token_base * p.k, routed = p.tokens * p.k;
  for (uint s = 0; s < slot; ++s)
    if (expert_of(gs + s) == e) return;  // uniform: that slot's workgroup takes this one
  const uint end = min(row0 + ROWS_PER_WG, p.rows);
  for (uint next = slot; next < routed;) {
    uvec4 sl = uvec4(routed);
    vec4 wi = vec4(1.0);
    [[unroll]] for (uint i = 0; i < GMAX; ++i) {
      if (i < GROUP_SLOTS) {
        while (next < routed && expert_of(gs + next) != e) ++next;
        sl[i] = next;
        next = min(next + 1u, routed);
      }
      if ((p.flags & MOE_WEIGHT_INPUT) != 0 && sl[i] < routed) wi[i] = route_w[gs + sl[i]];
    }
    while (next < routed && expert_of(gs + next) != e) ++next;  // none left: the loop ends
    for (uint r0 = row0 + GROUP * RPS; r0 < end; r0 += GROUPS * RPS) {
      uint ra[RPS], rb[RPS], piece;
      for (uint r = 0; r < RPS; ++r) {
        const uint row = min(r0 + r, p.rows - 1);  // rows past the end repeat the last, unwritten
        ra[r] = row_start(e, row, 0, piece);
        rb[r] = row_start(e, row, 1, piece);
      }
      gate_up_group(sl, wi, piece, ra, rb, r0, (p.flags & MOE_BIAS) != 0 ? e * p.rows : NO_BIAS);
    }
  }
}

void main() {
  dequant_prologue();
  const uint slot = gl_WorkGroupID.y, routed = p.tokens * p.k;  // slot t * k + j within the chunk
  const uint row0 = gl_WorkGroupID.x * ROWS_PER_WG;
  uint ra[RPS], rb[RPS], piece = 0;
  if (slot < routed) {
    const uint e = expert_of(p.token_base * p.k + slot);
    if (e == EMPTY) return;  // uniform: the down kernel skips this slot too
    if (GROUP_SLOTS > 1) {  // a constant
      gate_up_grouped(slot, e, row0);
      return;
    }
    const uint t = slot / p.k, end = min(row0 + ROWS_PER_WG, p.rows);
    if ((p.flags & MOE_WEIGHT_INPUT) != 0) in_weight = route_w[p.token_base * p.k + slot];
    for (uint r0 = row0 + GROUP * RPS; r0 < end; r0 += GROUPS * RPS) {
      for (uint r = 0; r < RPS; ++r) {
        const uint row = min(r0 + r, p.rows - 1);  // rows past the end repeat the last, unwritten
        ra[r] = row_start(e, row, 0, piece);
        rb[r] = row_start(e, row, 1, piece);
      }
      gate_up_rows(0, 1, piece, ra, rb, (p.token_base + t) * p.cols, p.rows, r0, slot * p.rows,
                   (p.flags & MOE_BIAS) != 0 ? e * p.rows : NO_BIAS);
    }
  } else {  // MOE_SHARED_SLOT: token slot - routed runs the shared expert
    const uint t = slot - routed, end = min(row0 + ROWS_PER_WG, p.shared_f);
    for (uint r0 = row0 + GROUP * RPS; r0 < end; r0 += GROUPS * RPS) {
      for (uint r = 0; r < RPS; ++r) {
        const uint off = min(r0 + r, p.shared_f - 1) * p.shared_row_bytes;
        ra[r] = p.shared_base_a + off;
        rb[r] = p.shared_base_b + off;
      }
      gate_up_rows(2, 3, 0, ra, rb, (p.token_base + t) * p.cols, p.shared_f, r0, routed * p.rows + t * p.shared_f,
                   NO_BIAS);
    }
  }
}

#else
// part[r] += (down row ra[r] of tensor ta) . h[hbase ..] over `cols` columns.
void down_part(uint ta, uint piece, uint ra[RPS], uint hbase, uint cols, inout float part[RPS]) {
#ifdef HAS_DIRECT
  for (uint u = LANE; u < direct_count(cols); u += LANES) {
    DirectW w[RPS];
    float s[RPS];
    [[unroll]] for (uint r = 0; r < RPS; ++r) direct_load(ta, piece, ra[r], u, w[r]);
    direct_dot(w, hbase / 4u, u, s);
    [[unroll]] for (uint r = 0; r < RPS; ++r) part[r] += s[r];
  }
#elif defined(HAS_UNIT)
  for (uint u = LANE; u < unit_count(cols); u += LANES) {
    float hv[UNIT], sh[UNIT / 16], q[UNIT];
    vec2 ab[UNIT / 16];
    [[unroll]] for (uint i = 0; i < UNIT / 4; ++i) {  // hbase and UNIT are multiples of 4
      const vec4 v = h4[(hbase + UNIT * u) / 4u + i];
      hv[4 * i] = v.x, hv[4 * i + 1] = v.y, hv[4 * i + 2] = v.z, hv[4 * i + 3] = v.w;
    }
    unit_sums(hv, sh);
    [[unroll]] for (uint r = 0; r < RPS; ++r) {
      unit_q(ta, piece, ra[r], u, q, ab);
      part[r] += unit_dot(q, ab, hv, sh);
    }
  }
#endif
#if TAIL_LOOP  // plain float types: unaligned rows and the tail
  const uint c0 = TAIL_CHUNK0(cols);
  for (uint c = c0 + LANE; c < (cols + 7u) / 8u; c += LANES) {
    float hv[8], w[8];
    for (uint i = 0; i < 8; ++i) hv[i] = 8u * c + i < cols ? h[hbase + 8u * c + i] : 0.0;
    for (uint r = 0; r < RPS; ++r) {
      dequant8(ta, piece, ra[r], c, cols, w);
      part[r] += dot8(w, hv);
    }
  }
#endif
}

void down_rows(uint t, uint r0) {
  float acc[RPS], bsum[RPS];  // bsum: the weighted down biases, the same on every lane
  uint ra[RPS];
  for (uint r = 0; r < RPS; ++r) acc[r] = bsum[r] = 0.0;
  for (uint j = 0; j < p.k; ++j) {
    const uint slot = t * p.k + j, gslot = p.token_base * p.k + slot;
    const uint e = expert_of(gslot);
    if (e == EMPTY) continue;
    const float weight = (p.flags & (MOE_UNIT_WEIGHT | MOE_WEIGHT_INPUT)) != 0 ? 1.0 : route_w[gslot];
    uint piece;
    for (uint r = 0; r < RPS; ++r) ra[r] = row_start(e, min(r0 + r, p.rows - 1), 0, piece);
    float part[RPS];
    for (uint r = 0; r < RPS; ++r) part[r] = 0.0;
    down_part(0, piece, ra, slot * p.cols, p.cols, part);
    for (uint r = 0; r < RPS; ++r) acc[r] += weight * part[r];
    if ((p.flags & MOE_BIAS) != 0)
      for (uint r = 0; r < RPS; ++r) bsum[r] += weight * bias_d[e * p.rows + min(r0 + r, p.rows - 1)];
  }
  if (SHARED) {
    const float weight = (p.flags & MOE_SHARED_GATED) != 0 ? shared_gate[p.token_base + t] : 1.0;
    for (uint r = 0; r < RPS; ++r) ra[r] = p.shared_base_a + min(r0 + r, p.rows - 1) * p.shared_row_bytes;
    float part[RPS];
    for (uint r = 0; r < RPS; ++r) part[r] = 0.0;
    down_part(2, 0, ra, p.tokens * p.k * p.cols + t * p.shared_f, p.shared_f, part);
    for (uint r = 0; r < RPS; ++r) acc[r] += weight * part[r];
  }
  for (uint r = 0; r < RPS; ++r) {
    const float s = LANE_SUM(acc[r]) + bsum[r];
    if (LANE == 0 && r0 + r < p.rows) {
      const uint o = (p.token_base + t) * p.rows + r0 + r;
      out_[o] = ((p.flags & MOE_ACCUMULATE) != 0 ? out_[o] : 0.0) + s;
    }
  }
}

void main() {
  dequant_prologue();
  const uint t = gl_WorkGroupID.y;
  const uint row0 = gl_WorkGroupID.x * ROWS_PER_WG, end = min(row0 + ROWS_PER_WG, p.rows);
  for (uint r0 = row0 + GROUP * RPS; r0 < end; r0 += GROUPS * RPS) down_rows(t, r0);
}
#endif
