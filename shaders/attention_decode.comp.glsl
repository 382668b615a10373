#version 450
#extension GL_EXT_control_flow_attributes : require
// Attention over the f16 KV cache, split-K (flash-decoding), for decode and prefill alike. One
// workgroup per (group of GB query heads sharing one KV head, key split, query token): the
// group's K and V rows are read once for its GB heads, not once per head. Query token t sits at
// position pos + t and sees keys lo .. pos + t (window, chunk as attention.comp.glsl); split y of
// p.splits takes a contiguous chunk of them. The chunk goes through shared memory in blocks of
// up to CAP keys, four barriers per block (not per 64 keys):
//   A. an invocation per key scores it against the GB queries (held in shared memory);
//   the block's max per head (subgroups, or a shared-memory tree) updates the running max m;
//   B. each invocation turns its own scores into exp(s - m) in place;
//   C. an invocation per (head, 8 output dims, key slice) accumulates sum p * V in registers,
//      rescaled by exp(m_old - m_new) per block; key slices (when the items are fewer than the
//      workgroup) are summed at the end.
// splits == 1: o = acc / l (with a sink's exp(sink - m) in l). splits > 1: the partial (m, l,
// acc) goes to part[] and attention_combine.comp.glsl merges them.
// VEC4 (specialization constant): head widths multiples of 8 and 16-byte aligned cache
// bindings, K and V read as uvec4 (8 halves); otherwise word loads with bounds checks.
#if USE_SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#define USE_ATTN_PARAMS
#include "ops_params.h"

#define WG ATTN_DECODE_WG
#define GBMAX ATTN_DECODE_GROUP
#define QV4 (ATTN_MAX_HEAD_DIM / 4)                      // vec4 slots of one query in shared memory
#define NI (GBMAX * ATTN_MAX_HEAD_DIM / 8 / WG)          // (head, 8 dims) items per invocation, at most
layout(local_size_x = WG) in;
layout(constant_id = 0) const uint GB = 1;     // query heads per workgroup: divides heads / kv_heads, <= GBMAX
layout(constant_id = 1) const uint CAP = 256;  // keys per block (shared scores GBMAX x CAP)
layout(constant_id = 2) const bool VEC4 = false;

layout(std430, binding = 0) readonly buffer Qb { float q[]; };
layout(std430, binding = 1) readonly buffer Kb { uint k_cache[]; };  // [rows, kv_heads, head_dim] f16 pairs
layout(std430, binding = 1) readonly buffer Kb4 { uvec4 k_cache4[]; };
layout(std430, binding = 2) readonly buffer Vb { uint v_cache[]; };
layout(std430, binding = 2) readonly buffer Vb4 { uvec4 v_cache4[]; };
layout(std430, binding = 3) writeonly buffer Ob { float o[]; };
layout(std430, binding = 4) readonly buffer Sb { float sinks[]; };  // [heads], ATTN_SINKS
layout(std430, binding = 5) writeonly buffer Pb { float part[]; };  // [tokens, heads, splits, 2 + Dv]

shared vec4 qs[GBMAX * QV4];      // the scaled queries, zero past head_dim
shared float sc[GBMAX * CAP];     // the block's scores, then exp(score - m)
shared float red[GBMAX * WG];     // block max: one slot per subgroup, or the tree
shared vec4 red_o[2 * WG];        // key slices' sums, and ...
shared float red_l[WG];           // ... their l
shared float m_sh[GBMAX], alpha_sh[GBMAX];

// 8 halves of a cache row from word w (of n words left in the head), as two vec4.
void load8(const bool is_k, uint w, uint n, out vec4 a, out vec4 b) {
  uvec4 u;
  if (VEC4) {
    u = is_k ? k_cache4[w >> 2] : v_cache4[w >> 2];
  } else {
    u = uvec4(0);
    [[unroll]] for (uint i = 0; i < 4; ++i)
      if (i < n) u[i] = is_k ? k_cache[w + i] : v_cache[w + i];
  }
  a = vec4(unpackHalf2x16(u.x), unpackHalf2x16(u.y));
  b = vec4(unpackHalf2x16(u.z), unpackHalf2x16(u.w));
}

// The block max of each head's scores (mx: this invocation's), folded into m_sh; alpha_sh gets
// the factor the sums so far are rescaled by.
void block_max(float mx[GBMAX]) {
  const uint tid = gl_LocalInvocationID.x;
#if USE_SUBGROUP
  [[unroll]] for (uint g = 0; g < GBMAX; ++g) {
    if (g >= GB) break;
    const float v = subgroupMax(mx[g]);
    if (subgroupElect()) red[g * WG + gl_SubgroupID] = v;
  }
  barrier();
  const uint n = gl_NumSubgroups;
#else
  [[unroll]] for (uint g = 0; g < GBMAX; ++g)
    if (g < GB) red[g * WG + tid] = mx[g];
  barrier();
  for (uint s = WG / 2; s > 0; s >>= 1) {
    if (tid < s)
      [[unroll]] for (uint g = 0; g < GBMAX; ++g)
        if (g < GB) red[g * WG + tid] = max(red[g * WG + tid], red[g * WG + tid + s]);
    barrier();
  }
  const uint n = 1;
#endif
  if (tid < GB) {
    float r = red[tid * WG];
    for (uint i = 1; i < n; ++i) r = max(r, red[tid * WG + i]);
    const float m_old = m_sh[tid], m_new = max(m_old, r);  // finite: the block has a key
    alpha_sh[tid] = isinf(m_old) ? 0.0 : exp(m_old - m_new);
    m_sh[tid] = m_new;
  }
  barrier();
}

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint h0 = gl_WorkGroupID.x * GB, split = gl_WorkGroupID.y, t = gl_WorkGroupID.z;
  const uint D = p.head_dim, Dv = p.v_head_dim, half_d = D / 2, half_dv = Dv / 2;
  const uint kvh = h0 / (p.heads / p.kv_heads);
  const uint row_words = p.kv_heads * half_d, v_row_words = p.kv_heads * half_dv;
  const uint nu = (D + 7) / 8, nu_v = (Dv + 7) / 8;  // 8-dim units of a key, of a value
  const uint len = p.pos + t + 1;
  uint lo = p.window != 0 && len > p.window ? len - p.window : 0;
  if ((p.flags & ATTN_CHUNKED) != 0) lo = (len - 1) / p.window * p.window;
  const uint chunk = (len - lo + p.splits - 1) / p.splits;
  const uint c0 = min(len, lo + split * chunk), c1 = min(len, c0 + chunk);

  for (uint i = tid; i < GB * QV4; i += WG) {
    const uint g = i / QV4, d = (i % QV4) * 4, qb = t * p.q_stride + (h0 + g) * D;
    vec4 v = vec4(0.0);
    [[unroll]] for (uint e = 0; e < 4; ++e)
      if (d + e < D) v[e] = q[qb + d + e];
    qs[i] = v * p.scale;
  }
  if (tid < GB) m_sh[tid] = -1.0 / 0.0;
  barrier();

  // C's items: (key slice, head, unit); KS slices when the (head, unit) pairs do not fill the
  // workgroup.
  const uint pairs = GB * nu_v, ks_n = max(1u, WG / pairs), items = ks_n * pairs;
  vec4 acc[NI][2];
  float lacc[NI];
  [[unroll]] for (uint k = 0; k < NI; ++k) acc[k][0] = acc[k][1] = vec4(0.0), lacc[k] = 0.0;

  for (uint j0 = c0; j0 < c1; j0 += CAP) {
    const uint nb = min(CAP, c1 - j0);
    // A: scores of this invocation's keys.
    float mx[GBMAX];
    [[unroll]] for (uint g = 0; g < GBMAX; ++g) mx[g] = -1.0 / 0.0;
    for (uint jj = tid; jj < nb; jj += WG) {
      const uint j = j0 + jj, kb = (p.ring != 0 ? j % p.ring : j) * row_words + kvh * half_d;
      float s[GBMAX];
      [[unroll]] for (uint g = 0; g < GBMAX; ++g) s[g] = 0.0;
      for (uint u = 0; u < nu; ++u) {
        vec4 ka, kb4;
        load8(true, kb + 4 * u, half_d - 4 * u, ka, kb4);
        [[unroll]] for (uint g = 0; g < GBMAX; ++g)
          if (g < GB) s[g] += dot(ka, qs[g * QV4 + 2 * u]) + dot(kb4, qs[g * QV4 + 2 * u + 1]);
      }
      [[unroll]] for (uint g = 0; g < GBMAX; ++g) {
        if (g >= GB) break;
        if ((p.flags & ATTN_SOFTCAP) != 0) s[g] = p.softcap * tanh(s[g] / p.softcap);
        sc[g * CAP + jj] = s[g];
        mx[g] = max(mx[g], s[g]);
      }
    }
    block_max(mx);
    // B: the own scores become probabilities under the new max.
    for (uint jj = tid; jj < nb; jj += WG)
      [[unroll]] for (uint g = 0; g < GBMAX; ++g)
        if (g < GB) sc[g * CAP + jj] = exp(sc[g * CAP + jj] - m_sh[g]);
    barrier();
    // C: sum p * V over this slice's keys of the block.
    const uint row0 = p.ring != 0 ? j0 % p.ring : j0;  // keys j0.. wrap at most once: nb <= window <= ring
    [[unroll]] for (uint k = 0; k < NI; ++k) {
      const uint it = tid + k * WG;
      if (it >= items) break;
      const uint ks = it / pairs, g = (it % pairs) / nu_v, u = it % nu_v;
      const float alpha = alpha_sh[g];
      vec4 a0 = acc[k][0] * alpha, a1 = acc[k][1] * alpha;
      float l = lacc[k] * alpha;
      const uint vw = kvh * half_dv + 4 * u;
      for (uint jj = ks; jj < nb; jj += ks_n) {
        uint row = row0 + jj;
        if (p.ring != 0 && row >= p.ring) row -= p.ring;
        const float pr = sc[g * CAP + jj];
        vec4 va, vb;
        load8(false, row * v_row_words + vw, half_dv - 4 * u, va, vb);
        a0 += pr * va;
        a1 += pr * vb;
        l += pr;
      }
      acc[k][0] = a0, acc[k][1] = a1, lacc[k] = l;
    }
    barrier();  // sc and red are rewritten by the next block
  }

  // Key slices summed: slice 0's items take the others' sums (items < WG when ks_n > 1: k = 0).
  if (ks_n > 1) {
    if (tid < items) red_o[2 * tid] = acc[0][0], red_o[2 * tid + 1] = acc[0][1], red_l[tid] = lacc[0];
    barrier();
    if (tid < pairs)
      for (uint ks = 1; ks < ks_n; ++ks) {
        const uint i = ks * pairs + tid;
        acc[0][0] += red_o[2 * i], acc[0][1] += red_o[2 * i + 1], lacc[0] += red_l[i];
      }
  }
  [[unroll]] for (uint k = 0; k < NI; ++k) {
    const uint it = tid + k * WG;
    if (it >= pairs) break;
    const uint g = it / nu_v, u = it % nu_v, h = h0 + g, d = 8 * u;
    const float m = m_sh[g];  // -inf for an empty split (l = 0, acc = 0)
    if (p.splits == 1) {
      float scale = 1.0, l = lacc[k];
      if ((p.flags & ATTN_SINKS) != 0) {
        const float sk = sinks[h], mm = max(m, sk);
        scale = exp(m - mm);
        l = l * scale + exp(sk - mm);
      }
      const vec4 r0 = acc[k][0] * (scale / l), r1 = acc[k][1] * (scale / l);
      const uint ob = t * p.o_stride + h * Dv + d;
      [[unroll]] for (uint e = 0; e < 4; ++e) {
        if (d + e < Dv) o[ob + e] = r0[e];
        if (d + 4 + e < Dv) o[ob + 4 + e] = r1[e];
      }
    } else {
      const uint pb = ((t * p.heads + h) * p.splits + split) * (2 + Dv);
      if (u == 0) part[pb] = m, part[pb + 1] = lacc[k];
      [[unroll]] for (uint e = 0; e < 4; ++e) {
        if (d + e < Dv) part[pb + 2 + d + e] = acc[k][0][e];
        if (d + 4 + e < Dv) part[pb + 2 + d + 4 + e] = acc[k][1][e];
      }
    }
  }
}
