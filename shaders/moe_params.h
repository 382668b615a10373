// Push constants of the MoE expert kernels (moe_matvec, moe_gemm, moe_route, moe_combine).
// One block serves them all so the host fills it once per layer. See params_common.h.
#ifndef VKMOE_MOE_PARAMS_H
#define VKMOE_MOE_PARAMS_H
#include "params_common.h"

// Slot ids and tile geometry the host and the shaders must agree on.
#define MOE_EMPTY_SLOT 0xFFFFFFFFu
#define MOE_TILE_SLOTS 32  // token slots per tile of the batched path (the route pads to it)
#define MOE_MAX_PIECES 4   // bindings one expert tensor may be split over
#define MOE_GEMM_SLOTS 8   // batched GEMM: slots per workgroup (a part of a tile)
#define MOE_GEMM_ROWS 4    // ... and weight rows per invocation (gate/up: 2 of each)
#define MOE_MAX_GROUP_SLOTS 4  // decode gate/up: most slots of one expert a workgroup takes per pass

// flags
#define MOE_FIXED_EXPERT 1u  // every token uses expert 0 with k = 1 (shared expert); ids unused
#define MOE_UNIT_WEIGHT 2u   // weights unused: every slot weighs 1
#define MOE_ACCUMULATE 4u    // out += result instead of out = result
#define MOE_SHARED_SLOT 8u   // decode pair: one more slot per token runs the shared expert
#define MOE_SHARED_GATED 16u // ... weighted by shared_gate[t] (else by 1)
#define MOE_SWIGLU_OAI 32u   // gpt-oss's clamped SwiGLU (act_alpha, act_limit) in place of silu(gate) * up
#define MOE_BIAS 64u         // per-expert biases of the routed experts: gate/up [2][E][F], down [E][H]
#define MOE_WEIGHT_INPUT 128u // the routed slot's weight scales the expert's input, not its output (llama4)
#define MOE_GELU 256u        // gelu(gate) * up (tanh approximation, as ggml's gelu) in place of silu(gate) * up (Grok)

#ifdef __cplusplus
namespace vkmoe {
#endif

#if defined(__cplusplus) || defined(USE_MOE_PARAMS)
// Tokens are numbered within the chunk of one dispatch; x, ids, weights and out are indexed
// from token_base, the per-slot scratch (h, y, route) from 0.
VKMOE_PARAMS(MoeParams) {
  uint tokens;      // tokens in this chunk
  uint token_base;  // first token of the chunk in x / ids / weights / out
  uint k;           // slots per token
  uint experts;     // ids >= experts are skipped like empty slots
  uint rows;        // weight rows: F for gate/up, H for down
  uint cols;        // dot-product length: H for gate/up, F for down
  uint row_bytes;   // bytes of one weight row
  uint experts_per_piece;
  uint flags;       // MOE_* above
  uint max_tiles;   // batched: tiles in the route buffer (its layout: counts[experts],
                    // tile_expert[max_tiles], sorted slots[max_tiles * MOE_TILE_SLOTS])
  uint base_a[4];   // per piece: byte offset of its first expert in its binding (gate or down)
  uint base_b[4];   // the same for up
  // MOE_SHARED_SLOT (decode pair): the shared expert, one binding per tensor, its own F.
  uint shared_f;          // its F: rows of its gate/up, columns of its down
  uint shared_row_bytes;  // bytes of one row of the tensor(s) bound (gate/up, or down)
  uint shared_base_a;     // byte offset of its gate (or down) in its binding
  uint shared_base_b;     // the same for its up
  float act_alpha;        // MOE_SWIGLU_OAI: min(g, limit) * sigmoid(alpha * min(g, limit)) *
  float act_limit;        //   (clamp(u, -limit, limit) + 1)
} VKMOE_PARAMS_END(MoeParams, 96);
#endif

// Workgroup size (local_size_x) of moe_combine, read by the shader and by its group count.
#define MOE_COMBINE_WG 256

#ifdef __cplusplus
}  // namespace vkmoe
#endif
#endif
