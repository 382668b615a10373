#version 450
#extension GL_EXT_control_flow_attributes : require
#if USE_SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
// Prefill attention over the f16 KV cache, flash-attention style: one workgroup per (group of GB
// query heads sharing one KV head, tile of BQ = ROWS / GB query tokens). Its ROWS query rows share
// every K and V row: the tile's keys (the first query's lo .. the last query's position) are
// staged in shared memory in blocks of BK keys, read from the cache once per tile instead of once
// per token. Query token t sits at position pos + t and sees keys lo .. pos + t (window, chunk,
// ring, sinks and softcap as attention_decode.comp.glsl). Four barriers per block: after staging
// K and V (stage), the scores (score_block: 16 dot products per 8 shared loads), the online
// softmax per row (softmax_rows) and the p V sums (main: 16 multiply-adds per 2 shared loads).
#define USE_ATTN_PARAMS
#include "ops_params.h"

#define WG ATTN_TILE_WG
#define ROWS ATTN_TILE_ROWS
#if WG != 64 || ROWS != 16
#error "score_block's layout (4 row quads x 16 key lanes) assumes 64 invocations and 16 rows"
#endif
#define NI (ROWS / 4 * ATTN_MAX_HEAD_DIM / 4 / WG)  // (4 rows, 4 dims) items per invocation, at most
layout(local_size_x = WG) in;
layout(constant_id = 0) const uint GB = 1;   // query heads per workgroup: divides heads / kv_heads, ROWS / GB tokens
layout(constant_id = 1) const uint BK = 64;  // keys per block
layout(constant_id = 2) const uint D4 = 16;  // 4-dim units of a key: ceil(head_dim / 4)
layout(constant_id = 3) const uint V4 = 16;  // 4-dim units of a value: ceil(v_head_dim / 4)

layout(std430, binding = 0) readonly buffer Qb { float q[]; };
layout(std430, binding = 1) readonly buffer Kb { uint k_cache[]; };  // [rows, kv_heads, head_dim] f16 pairs
layout(std430, binding = 2) readonly buffer Vb { uint v_cache[]; };
layout(std430, binding = 3) writeonly buffer Ob { float o[]; };
layout(std430, binding = 4) readonly buffer Sb { float sinks[]; };  // [heads], ATTN_SINKS

shared vec4 qs[ROWS * D4];   // the scaled queries, zero past head_dim and past the last token
shared uvec2 ks[BK * D4];    // the block's keys, 4 halves per slot, zero padded
shared uvec2 vs[BK * V4];    // the block's values
shared vec4 sc[ROWS / 4 * BK];  // scores, then exp(score - m): [row / 4, key][row % 4]
shared float m_sh[ROWS], l_sh[ROWS], alpha_sh[ROWS];

const float NEG_INF = -1.0 / 0.0;

// First key query position qp sees (window or chunk).
uint key_lo(uint qp) {
  if ((p.flags & ATTN_CHUNKED) != 0) return qp / p.window * p.window;
  return p.window != 0 && qp + 1 > p.window ? qp + 1 - p.window : 0;
}

// Word w of row `row` (head kvh) of the K or V cache, rows `half_w` words a head; 0 past the head.
uint cache_word(const bool is_k, uint row, uint kvh, uint half_w, uint w) {
  if (w >= half_w) return 0;
  const uint i = (row * p.kv_heads + kvh) * half_w + w;
  return is_k ? k_cache[i] : v_cache[i];
}

// Keys j0 .. j0 + nb - 1 of KV head kvh into ks / vs; slots past nb or past the head are zero.
void stage(uint j0, uint nb, uint kvh) {
  const uint half_d = p.head_dim / 2, half_dv = p.v_head_dim / 2, n = BK * (D4 + V4);
  for (uint i = gl_LocalInvocationID.x; i < n; i += WG) {
    const bool is_k = i < BK * D4;
    const uint units = is_k ? D4 : V4, i2 = is_k ? i : i - BK * D4, key = i2 / units, w = 2 * (i2 % units);
    uvec2 u = uvec2(0);
    if (key < nb) {
      const uint row = p.ring != 0 ? (j0 + key) % p.ring : j0 + key, half_w = is_k ? half_d : half_dv;
      u = uvec2(cache_word(is_k, row, kvh, half_w, w), cache_word(is_k, row, kvh, half_w, w + 1));
    }
    if (is_k) ks[i2] = u;
    else vs[i2] = u;
  }
}

vec4 unpack4(uvec2 u) { return vec4(unpackHalf2x16(u.x), unpackHalf2x16(u.y)); }

// A: scores of rows 4 rq .. 4 rq + 3 against keys kl, kl + 16, kl + 32, kl + 48 of each 64-key
// pass; keys a row must not see are -inf.
void score_block(uint j0, uint nb, uint t0) {
  const uint tid = gl_LocalInvocationID.x, rq = tid / 16, kl = tid % 16;
  for (uint pass = 0; pass < nb; pass += 64) {
    float s[4][4];
    [[unroll]] for (uint r = 0; r < 4; ++r)
      [[unroll]] for (uint i = 0; i < 4; ++i) s[r][i] = 0.0;
    for (uint d = 0; d < D4; ++d) {
      vec4 qv[4], kv[4];
      [[unroll]] for (uint r = 0; r < 4; ++r) qv[r] = qs[(4 * rq + r) * D4 + d];
      [[unroll]] for (uint i = 0; i < 4; ++i) kv[i] = unpack4(ks[min(pass + kl + 16 * i, BK - 1) * D4 + d]);
      [[unroll]] for (uint r = 0; r < 4; ++r)
        [[unroll]] for (uint i = 0; i < 4; ++i) s[r][i] += dot(qv[r], kv[i]);
    }
    [[unroll]] for (uint r = 0; r < 4; ++r) {
      const uint row = 4 * rq + r, qp = p.pos + t0 + row / GB, lo = key_lo(qp);
      const bool live = t0 + row / GB < p.tokens;
      [[unroll]] for (uint i = 0; i < 4; ++i) {
        const uint key = pass + kl + 16 * i, j = j0 + key;
        if (key >= BK) break;
        float v = s[r][i];
        if ((p.flags & ATTN_SOFTCAP) != 0) v = p.softcap * tanh(v / p.softcap);
        sc[rq * BK + key][r] = live && key < nb && j >= lo && j <= qp ? v : NEG_INF;
      }
    }
  }
}

// B for one row: the new max, the rescale factor, probabilities in place, the running sum.
#if USE_SUBGROUP
void softmax_rows(uint nb) {
  const uint n = gl_NumSubgroups, lane = gl_SubgroupInvocationID, stride = WG / n;
  for (uint row = gl_SubgroupID; row < ROWS; row += n) {
    float mx = NEG_INF;
    for (uint k = lane; k < nb; k += stride) mx = max(mx, sc[row / 4 * BK + k][row % 4]);
    const float m_old = m_sh[row], m_new = max(m_old, subgroupMax(mx));
    float sum = 0.0;
    for (uint k = lane; k < nb; k += stride) {
      const float s = sc[row / 4 * BK + k][row % 4], e = s == NEG_INF ? 0.0 : exp(s - m_new);
      sc[row / 4 * BK + k][row % 4] = e;
      sum += e;
    }
    sum = subgroupAdd(sum);
    if (subgroupElect()) {
      const float alpha = m_old == NEG_INF ? 0.0 : exp(m_old - m_new);
      alpha_sh[row] = alpha;
      l_sh[row] = l_sh[row] * alpha + sum;
      m_sh[row] = m_new;
    }
  }
}
#else
void softmax_rows(uint nb) {
  const uint row = gl_LocalInvocationID.x;
  if (row >= ROWS) return;
  float mx = NEG_INF;
  for (uint k = 0; k < nb; ++k) mx = max(mx, sc[row / 4 * BK + k][row % 4]);
  const float m_old = m_sh[row], m_new = max(m_old, mx);
  float sum = 0.0;
  for (uint k = 0; k < nb; ++k) {
    const float s = sc[row / 4 * BK + k][row % 4], e = s == NEG_INF ? 0.0 : exp(s - m_new);
    sc[row / 4 * BK + k][row % 4] = e;
    sum += e;
  }
  const float alpha = m_old == NEG_INF ? 0.0 : exp(m_old - m_new);
  alpha_sh[row] = alpha;
  l_sh[row] = l_sh[row] * alpha + sum;
  m_sh[row] = m_new;
}
#endif

void main() {
  const uint tid = gl_LocalInvocationID.x, BQ = ROWS / GB;
  const uint h0 = gl_WorkGroupID.x * GB, t0 = gl_WorkGroupID.y * BQ;
  const uint kvh = h0 / (p.heads / p.kv_heads), D = p.head_dim, Dv = p.v_head_dim;
  const uint t_last = min(t0 + BQ, p.tokens) - 1;
  const uint lo = key_lo(p.pos + t0), hi = p.pos + t_last;  // keys of the tile: lo .. hi

  // Row r is token t0 + r / GB of head h0 + r % GB.
  for (uint i = tid; i < ROWS * D4; i += WG) {
    const uint r = i / D4, d = (i % D4) * 4, t = t0 + r / GB;
    vec4 v = vec4(0.0);
    if (t < p.tokens) {
      const uint qb = t * p.q_stride + (h0 + r % GB) * D;
      [[unroll]] for (uint e = 0; e < 4; ++e)
        if (d + e < D) v[e] = q[qb + d + e];
    }
    qs[i] = v * p.scale;
  }
  if (tid < ROWS) m_sh[tid] = NEG_INF, l_sh[tid] = 0.0;

  vec4 acc[NI][4];
  [[unroll]] for (uint k = 0; k < NI; ++k)
    [[unroll]] for (uint r = 0; r < 4; ++r) acc[k][r] = vec4(0.0);
  const uint items = ROWS / 4 * V4;
  for (uint j0 = lo; j0 <= hi; j0 += BK) {
    const uint nb = min(BK, hi + 1 - j0);
    stage(j0, nb, kvh);
    barrier();  // also orders the queries and m_sh / l_sh before the first block
    score_block(j0, nb, t0);
    barrier();
    softmax_rows(nb);
    barrier();
    // C: sum p V into this invocation's (4 rows, 4 dims) items.
    [[unroll]] for (uint k = 0; k < NI; ++k) {
      const uint it = tid + k * WG;
      if (it >= items) break;
      const uint rq = it / V4, u = it % V4;
      vec4 a[4];
      [[unroll]] for (uint r = 0; r < 4; ++r) a[r] = acc[k][r] * alpha_sh[4 * rq + r];
      for (uint jj = 0; jj < nb; ++jj) {
        const vec4 pr = sc[rq * BK + jj], v = unpack4(vs[jj * V4 + u]);
        [[unroll]] for (uint r = 0; r < 4; ++r) a[r] += pr[r] * v;
      }
      [[unroll]] for (uint r = 0; r < 4; ++r) acc[k][r] = a[r];
    }
    barrier();  // ks, vs and sc are rewritten by the next block
  }

  [[unroll]] for (uint k = 0; k < NI; ++k) {
    const uint it = tid + k * WG;
    if (it >= items) break;
    const uint rq = it / V4, d = 4 * (it % V4);
    [[unroll]] for (uint i = 0; i < 4; ++i) {
      const uint r = 4 * rq + i, t = t0 + r / GB, h = h0 + r % GB;
      if (t >= p.tokens) break;  // rows are token-major: the rest are past the end too
      float scale = 1.0, l = l_sh[r];
      if ((p.flags & ATTN_SINKS) != 0) {
        const float m = m_sh[r], sk = sinks[h], mm = max(m, sk);
        scale = exp(m - mm);
        l = l * scale + exp(sk - mm);
      }
      const vec4 res = acc[k][i] * (scale / l);
      const uint ob = t * p.o_stride + h * Dv + d;
      [[unroll]] for (uint e = 0; e < 4; ++e)
        if (d + e < Dv) o[ob + e] = res[e];
    }
  }
}
