#version 450
// DeepSeek multi-head latent attention: writes T tokens' per-head keys and values into the f16
// cache. The key of head h is [k_nope_h, k_pe]: its unrotated part from the decompressed kv row
// [heads, nope + dv] and the roped part shared by every head; its value is kv's last dv dims.
// One invocation per cache word (f16 pair) of K and of V. With MLA_ROPE, RoPE (normal layout:
// a rotated pair is one word) is applied here: to k_pe on its way into the cache, and to the
// same word of q (read at q_offset + t * q_stride, written packed to q_out; in place is safe, as
// each word is read and written by one invocation).
#define USE_MLA_KV_PARAMS
#include "ops_params.h"

layout(local_size_x = KV_STORE_WG) in;
layout(std430, binding = 0) readonly buffer KVb { float kv[]; };
layout(std430, binding = 1) readonly buffer PEb { float k_pe[]; };
layout(std430, binding = 2) readonly buffer Pb { uint positions[]; };
layout(std430, binding = 3) writeonly buffer KCb { uint k_cache[]; };
layout(std430, binding = 4) writeonly buffer VCb { uint v_cache[]; };
layout(std430, binding = 5) readonly buffer Qb { float q_in[]; };
layout(std430, binding = 6) writeonly buffer QOb { float q_out[]; };

#include "rope_theta.glsl"

// The pair at rope dims (2r, 2r + 1) rotated for position pos.
vec2 rotate(vec2 a, uint pos, uint r) {
  const float theta = rope_theta(rope_theta_extrap(pos, r), r);
  const float c = cos(theta) * p.mscale, s = sin(theta) * p.mscale;
  return vec2(a.x * c - a.y * s, a.x * s + a.y * c);
}

void main() {
  const uint dk = p.nope + p.n_rot;
  const uint k_words = p.heads * dk / 2, v_words = p.heads * p.dv / 2;
  const uint w = gl_GlobalInvocationID.x;
  const uint t = gl_WorkGroupID.y;
  const uint pos = positions[t];
  const bool rope = (p.flags & MLA_ROPE) != 0;
  if (rope && w < k_words) {  // q has the keys' layout: heads x [nope, n_rot]
    const uint h = w / (dk / 2), d = 2 * (w % (dk / 2));
    const uint src = p.q_offset + t * p.q_stride + h * dk + d;
    vec2 a = vec2(q_in[src], q_in[src + 1]);
    if (d >= p.nope) a = rotate(a, pos, (d - p.nope) / 2);
    const uint o = t * p.heads * dk + h * dk + d;
    q_out[o] = a.x;
    q_out[o + 1] = a.y;
  }
  if (pos >= p.n_ctx) return;
  const uint row = t * p.kv_stride;
  if (w < k_words) {
    const uint h = w / (dk / 2), d = 2 * (w % (dk / 2));  // nope and n_rot are even: pairs never straddle
    const uint src = d < p.nope ? row + h * (p.nope + p.dv) + d : t * p.pe_stride + p.pe_offset + (d - p.nope);
    vec2 pair = d < p.nope ? vec2(kv[src], kv[src + 1]) : vec2(k_pe[src], k_pe[src + 1]);
    if (rope && d >= p.nope) pair = rotate(pair, pos, (d - p.nope) / 2);
    k_cache[pos * k_words + w] = packHalf2x16(pair);
  }
  if (w < v_words) {
    const uint h = w / (p.dv / 2), d = 2 * (w % (p.dv / 2));
    const uint src = row + h * (p.nope + p.dv) + p.nope + d;
    v_cache[pos * v_words + w] = packHalf2x16(vec2(kv[src], kv[src + 1]));
  }
}
