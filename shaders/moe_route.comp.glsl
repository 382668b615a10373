#version 450
// Groups the chunk's token slots by expert for moe_gemm, in one workgroup. Route buffer:
//   counts[experts]                     scratch: slots per expert, then scatter cursors
//   tile_expert[max_tiles]              expert of each tile of MOE_TILE_SLOTS slots, or empty
//   sorted[max_tiles * MOE_TILE_SLOTS]  slot indices (t * k + j) grouped by expert, each
//                                       expert's run padded to whole tiles with empty slots
// The order of slots inside an expert's run depends on atomics, but every output element is
// computed from one slot alone, so results do not.
#define USE_MOE_PARAMS
#include "moe_params.h"

#define WG 256
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer Ids { uint ids[]; };
layout(std430, binding = 1) coherent buffer Route { uint route[]; };

void sync() {
  memoryBarrierBuffer();
  barrier();
}

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint nslots = p.tokens * p.k;
  const uint tiles_at = p.experts, sorted_at = p.experts + p.max_tiles;
  for (uint i = tid; i < p.experts; i += WG) route[i] = 0;
  for (uint i = tid; i < p.max_tiles; i += WG) route[tiles_at + i] = MOE_EMPTY_SLOT;
  for (uint i = tid; i < p.max_tiles * MOE_TILE_SLOTS; i += WG) route[sorted_at + i] = MOE_EMPTY_SLOT;
  sync();
  for (uint s = tid; s < nslots; s += WG) {
    const uint e = ids[p.token_base * p.k + s];
    if (e < p.experts) atomicAdd(route[e], 1u);
  }
  sync();
  if (tid == 0) {
    uint start = 0;  // in slots, a multiple of the tile
    for (uint e = 0; e < p.experts; ++e) {
      const uint tiles = (route[e] + MOE_TILE_SLOTS - 1) / MOE_TILE_SLOTS;
      for (uint i = 0; i < tiles; ++i) route[tiles_at + start / MOE_TILE_SLOTS + i] = e;
      route[e] = start;
      start += tiles * MOE_TILE_SLOTS;
    }
  }
  sync();
  for (uint s = tid; s < nslots; s += WG) {
    const uint e = ids[p.token_base * p.k + s];
    if (e < p.experts) route[sorted_at + atomicAdd(route[e], 1u)] = s;
  }
}
