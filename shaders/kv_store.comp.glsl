#version 450
// Writes T new tokens' K and V rows into the f16 cache at their positions. The cache is
// [n_ctx, kv_heads, head_dim] halves packed in pairs into uint words (no 16-bit storage
// feature needed); one invocation per word of K and of V. K rows hold head_dim halves per
// head, V rows v_head_dim.
#define USE_KV_STORE_PARAMS
#include "ops_params.h"

layout(local_size_x = KV_STORE_WG) in;
layout(std430, binding = 0) readonly buffer Kb { float k[]; };
layout(std430, binding = 1) readonly buffer Vb { float v[]; };
layout(std430, binding = 2) readonly buffer Pb { uint positions[]; };
layout(std430, binding = 3) writeonly buffer KCb { uint k_cache[]; };
layout(std430, binding = 4) writeonly buffer VCb { uint v_cache[]; };

void main() {
  const uint k_words = p.kv_heads * p.head_dim / 2, v_words = p.kv_heads * p.v_head_dim / 2;
  const uint w = gl_GlobalInvocationID.x;
  const uint t = gl_WorkGroupID.y;
  const uint pos = positions[t];
  if (pos >= p.n_ctx) return;
  if (w < k_words) {
    const uint kb = t * p.k_stride + 2 * w;
    k_cache[pos * k_words + w] = packHalf2x16(vec2(k[kb], k[kb + 1]));
  }
  if (w < v_words) {
    const uint vb = t * p.v_stride + 2 * w;
    v_cache[pos * v_words + w] = packHalf2x16(vec2(v[vb], v[vb + 1]));
  }
}
