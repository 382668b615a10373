#version 450
// Causal grouped-query attention over the f16 KV cache. One workgroup per (query head, query
// token): query token t sits at position pos + t and attends cache rows 0 .. pos + t (the last
// `window` of them under a sliding window; those of its own chunk of `window` with
// ATTN_CHUNKED). With ATTN_SINKS, head h's sink logit sinks[h] joins
// the softmax denominator (it starts the running max and sum) and adds no value. A ring cache
// (p.ring > 0, sliding-window layers) holds key j in row j % ring.
// Keys are taken WG at a time: each invocation scores one key, the workgroup updates a
// streaming softmax (running max m, running sum l, flash-attention style rescaling) and each
// invocation accumulates the output dims d = tid, tid + WG, ... in f32. Keys and queries are
// head_dim wide, values and outputs v_head_dim (they differ in DeepSeek's MLA).
#if USE_SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#define USE_ATTN_PARAMS
#include "ops_params.h"

#define WG 64
#define DPT (ATTN_MAX_HEAD_DIM / WG)  // output dims per invocation
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer Qb { float q[]; };
layout(std430, binding = 1) readonly buffer Kb { uint k_cache[]; };  // [n_ctx, kv_heads, head_dim] f16 pairs
layout(std430, binding = 2) readonly buffer Vb { uint v_cache[]; };
layout(std430, binding = 3) writeonly buffer Ob { float o[]; };
layout(std430, binding = 4) readonly buffer Sb { float sinks[]; };  // [heads], ATTN_SINKS

#include "wg_reduce.glsl"

shared vec2 qs[ATTN_MAX_HEAD_DIM / 2];  // the scaled query, in pairs
shared float probs[WG];                // this block's exp(score - m)

void main() {
  const uint h = gl_WorkGroupID.x, t = gl_WorkGroupID.y;
  const uint tid = gl_LocalInvocationID.x;
  const uint D = p.head_dim, half_d = D / 2, Dv = p.v_head_dim;
  const uint kvh = h / (p.heads / p.kv_heads);
  const uint row_words = p.kv_heads * half_d, v_row_words = p.kv_heads * (Dv / 2);
  const uint len = p.pos + t + 1;  // causal: keys lo .. pos + t
  uint lo = p.window != 0 && len > p.window ? len - p.window : 0;
  if ((p.flags & ATTN_CHUNKED) != 0) lo = (len - 1) / p.window * p.window;  // its own chunk only

  const uint qb = t * p.q_stride + h * D;
  for (uint i = tid; i < half_d; i += WG) qs[i] = vec2(q[qb + 2 * i], q[qb + 2 * i + 1]) * p.scale;
  barrier();

  float acc[DPT];
  for (uint k = 0; k < DPT; ++k) acc[k] = 0.0;
  float m = -1.0 / 0.0, l = 0.0;
  if ((p.flags & ATTN_SINKS) != 0) {  // exp(sink - m) = 1 with m = sink
    m = sinks[h];
    l = 1.0;
  }
  for (uint j0 = lo; j0 < len; j0 += WG) {
    const uint j = j0 + tid;
    float s = -1.0 / 0.0;
    if (j < len) {
      const uint kb = (p.ring != 0 ? j % p.ring : j) * row_words + kvh * half_d;
      s = 0.0;
      for (uint i = 0; i < half_d; ++i) s += dot(qs[i], unpackHalf2x16(k_cache[kb + i]));
      if ((p.flags & ATTN_SOFTCAP) != 0) s = p.softcap * tanh(s / p.softcap);
    }
    const float m_new = max(m, wg_max(s));  // finite: key j0 < len exists
    const float e = j < len ? exp(s - m_new) : 0.0;
    probs[tid] = e;
    const float alpha = isinf(m) ? 0.0 : exp(m - m_new);  // m = -inf only before the first block (no sink)
    l = l * alpha + wg_sum(e);           // wg_sum's barrier also publishes probs
    const uint nj = min(WG, len - j0);
    for (uint k = 0; k < DPT; ++k) {
      const uint d = tid + k * WG;
      if (d >= Dv) break;
      const uint vh = kvh * (Dv / 2) + d / 2;
      const bool hi = (d & 1u) != 0;
      float a = acc[k] * alpha;
      uint row = p.ring != 0 ? j0 % p.ring : j0;  // key j0 + jj's row, wrapping in a ring
      for (uint jj = 0; jj < nj; ++jj, row = (p.ring != 0 && row + 1 == p.ring) ? 0 : row + 1) {
        const vec2 v2 = unpackHalf2x16(v_cache[row * v_row_words + vh]);
        a += probs[jj] * (hi ? v2.y : v2.x);
      }
      acc[k] = a;
    }
    m = m_new;
    barrier();  // probs is rewritten by the next block
  }
  const uint ob = t * p.o_stride + h * Dv;
  for (uint k = 0; k < DPT; ++k) {
    const uint d = tid + k * WG;
    if (d < Dv) o[ob + d] = acc[k] / l;
  }
}
