#version 450
// DeepSeek multi-head latent attention: writes T tokens' per-head keys and values into the f16
// cache. The key of head h is [k_nope_h, k_pe]: its unrotated part from the decompressed kv row
// [heads, nope + dv] and the roped part shared by every head; its value is kv's last dv dims.
// One invocation per cache word (f16 pair) of K and of V.
#define USE_MLA_KV_PARAMS
#include "ops_params.h"

layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer KVb { float kv[]; };
layout(std430, binding = 1) readonly buffer PEb { float k_pe[]; };
layout(std430, binding = 2) readonly buffer Pb { uint positions[]; };
layout(std430, binding = 3) writeonly buffer KCb { uint k_cache[]; };
layout(std430, binding = 4) writeonly buffer VCb { uint v_cache[]; };

void main() {
  const uint dk = p.nope + p.rope;
  const uint k_words = p.heads * dk / 2, v_words = p.heads * p.dv / 2;
  const uint w = gl_GlobalInvocationID.x;
  const uint t = gl_WorkGroupID.y;
  const uint pos = positions[t];
  if (pos >= p.n_ctx) return;
  const uint row = t * p.kv_stride;
  if (w < k_words) {
    const uint h = w / (dk / 2), d = 2 * (w % (dk / 2));  // nope and rope are even: pairs never straddle
    const uint src = d < p.nope ? row + h * (p.nope + p.dv) + d : t * p.pe_stride + p.pe_offset + (d - p.nope);
    const vec2 pair = d < p.nope ? vec2(kv[src], kv[src + 1]) : vec2(k_pe[src], k_pe[src + 1]);
    k_cache[pos * k_words + w] = packHalf2x16(pair);
  }
  if (w < v_words) {
    const uint h = w / (p.dv / 2), d = 2 * (w % (p.dv / 2));
    const uint src = row + h * (p.nope + p.dv) + p.nope + d;
    v_cache[pos * v_words + w] = packHalf2x16(vec2(kv[src], kv[src + 1]));
  }
}
