#version 450
// Everything between the q/k/v projections and attention, in one dispatch: bias (Qwen2-MoE),
// clamp (DBRX), QK-norm (per head or whole vector; before RoPE, or after it with RKV_NORM_AFTER_ROPE), RoPE as
// rope.comp.glsl computes it, q written out as f32
// and k, v rounded to f16 into the cache at the token's position. One workgroup per (item,
// token); the items of a token are its q segments (one per head, or one for the whole vector
// with RKV_NORM_FULL), then its k segments, then one per v head. Each invocation writes whole
// f16 pairs; a rotated element reads its partner itself, so nothing is written in place.
#if USE_SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#define USE_RKV_PARAMS
#include "ops_params.h"

#define WG 64
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer Qb { float q[]; };
layout(std430, binding = 1) readonly buffer Kb { float k[]; };
layout(std430, binding = 2) readonly buffer Vb { float v[]; };
layout(std430, binding = 3) readonly buffer Pb { uint positions[]; };
layout(std430, binding = 4) readonly buffer Bb { float bias[]; };
layout(std430, binding = 5) readonly buffer Nb { float norm_w[]; };
layout(std430, binding = 6) writeonly buffer QOb { float q_out[]; };
layout(std430, binding = 7) writeonly buffer KCb { uint k_cache[]; };
layout(std430, binding = 8) writeonly buffer VCb { uint v_cache[]; };
layout(std430, binding = 9) readonly buffer Fb { float freq_factors[]; };  // RKV_FREQ_FACTORS

#include "wg_reduce.glsl"
#include "rope_theta.glsl"

// The segment being processed: element e of it is input[in0 + e] + bias[b0 + e], scaled by
// inv * norm_w[w0 + e] when normed.
bool seg_k;
uint in0, b0, w0;
float inv;

float raw(uint e) {
  float a = seg_k ? k[in0 + e] : q[in0 + e];
  if ((p.flags & RKV_BIAS) != 0) a += bias[b0 + e];
  if ((p.flags & RKV_CLAMP) != 0) a = clamp(a, -p.clamp_kqv, p.clamp_kqv);
  return a;
}

#define NORM_AFTER ((p.flags & RKV_NORM_AFTER_ROPE) != 0)

// Element e as RoPE reads it: normed here unless the norm comes after RoPE.
float value(uint e) {
  if (NORM_AFTER) return raw(e);
  const float a = raw(e) * inv;
  const bool weighted = (p.flags & (RKV_NORM_HEAD | RKV_NORM_FULL)) != 0 && (p.flags & RKV_NORM_UNIT) == 0;
  return weighted ? a * norm_w[w0 + e] : a;
}

// Element e after RoPE at position pos (the unrotated dims pass through).
float roped(uint e, uint pos) {
  const uint d = e % p.head_dim;
  if (d < p.rot_offset || d - p.rot_offset >= p.n_rot) return value(e);
  const uint dl = d - p.rot_offset, n_half = p.n_rot / 2;
  const bool neox = (p.flags & RKV_NEOX) != 0;
  const uint r = neox ? dl % n_half : dl / 2;
  const bool first = neox ? dl < n_half : (dl & 1u) == 0;
  const uint partner = neox ? (first ? e + n_half : e - n_half) : (first ? e + 1 : e - 1);
  float extrap = rope_theta_extrap(pos, r);
  if ((p.flags & RKV_FREQ_FACTORS) != 0) extrap /= freq_factors[r];
  const float theta = rope_theta(extrap, r);
  const float c = cos(theta) * p.mscale, s = sin(theta) * p.mscale;
  const float a = value(e), b = value(partner);
  return first ? a * c - b * s : b * s + a * c;
}

void main() {
  const uint item = gl_WorkGroupID.x, t = gl_WorkGroupID.y, tid = gl_LocalInvocationID.x;
  const bool full = (p.flags & RKV_NORM_FULL) != 0;
  const uint q_items = full ? 1 : p.heads, k_items = full ? 1 : p.kv_heads;
  const uint pos = positions[t];
  const bool store = pos < p.n_ctx;
  const uint row = p.ring != 0 ? pos % p.ring : pos;  // a sliding-window layer's ring
  if (item >= q_items + k_items) {  // a v head: bias, then straight into the cache
    const uint h = item - q_items - k_items;
    if (h >= p.kv_heads || !store) return;
    const uint src = p.v_offset + t * p.v_stride + h * p.v_dim, bsrc = p.bv_offset + h * p.v_dim;
    const bool has_bias = (p.flags & RKV_BIAS) != 0;
    for (uint m = tid; m < p.v_dim / 2; m += WG) {
      vec2 a = vec2(v[src + 2 * m], v[src + 2 * m + 1]);
      if (has_bias) a += vec2(bias[bsrc + 2 * m], bias[bsrc + 2 * m + 1]);
      if ((p.flags & RKV_CLAMP) != 0) a = clamp(a, -p.clamp_kqv, p.clamp_kqv);
      v_cache[(row * p.kv_heads * p.v_dim + h * p.v_dim) / 2 + m] = packHalf2x16(a);
    }
    return;
  }
  seg_k = item >= q_items;
  const uint first_head = full ? 0 : seg_k ? item - q_items : item;
  const uint n = (full ? (seg_k ? p.kv_heads : p.heads) : 1) * p.head_dim;
  const uint head0 = first_head * p.head_dim;
  in0 = seg_k ? p.k_offset + t * p.k_stride + head0 : p.q_offset + t * p.q_stride + head0;
  b0 = (seg_k ? p.bk_offset : 0) + head0;
  w0 = seg_k ? p.kn_offset : 0;  // per head: one [head_dim] weight; whole vector: [n]
  inv = 1.0;
  if ((p.flags & (RKV_NORM_HEAD | RKV_NORM_FULL)) != 0) {
    float ss = 0.0;
    for (uint e = tid; e < n; e += WG) {
      const float a = NORM_AFTER ? roped(e, pos) : raw(e);  // roped reads value(), unnormed then
      ss += a * a;
    }
    inv = 1.0 / sqrt(wg_sum(ss) / float(n) + p.eps);
  }
  // llama4's attention temperature on q (1 below the first floor step)
  const float temp = (p.flags & RKV_Q_TEMP) != 0 && !seg_k
                         ? log(floor((float(pos) + p.temp_offset) / p.temp_floor) + 1.0) * p.temp_scale + 1.0
                         : 1.0;
  for (uint m = tid; m < n / 2; m += WG) {
    vec2 pair = vec2(roped(2 * m, pos), roped(2 * m + 1, pos)) * temp;
    if (NORM_AFTER) pair *= inv * vec2(norm_w[w0 + 2 * m], norm_w[w0 + 2 * m + 1]);
    if (!seg_k) {
      const uint o = t * p.heads * p.head_dim + head0 + 2 * m;
      q_out[o] = pair.x;
      q_out[o + 1] = pair.y;
    } else if (store) {
      k_cache[(row * p.kv_heads * p.head_dim + head0) / 2 + m] = packHalf2x16(pair);
    }
  }
}
