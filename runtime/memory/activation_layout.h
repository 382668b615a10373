// Every buffer a Model allocates besides its weights, with its bytes: the one source that the
// memory plan sums and that the Engine (activations) and Model (KV caches) allocate from
// verbatim, so the two cannot disagree. The activations are what the layers' blocks ask for
// (runtime/blocks/*: activation_bytes), merged.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace vkmoe {

struct ModelConfig;

enum class MemoryCategory { weights, kv_cache, activations, logits, scratch, staging };
constexpr int kMemoryCategories = 6;
const char* category_name(MemoryCategory c);

struct LayoutBuffer {
  const char* name = "";
  uint64_t bytes = 0;  // 0: not allocated for this config
  MemoryCategory category = MemoryCategory::activations;
};

// Shapes with B = tokens per batch (max(n_batch, S): a decode step of S sessions is a batch too),
// S = sessions (n_parallel), H = n_embd, qw = n_head * Dk, kw = n_head_kv * Dk, vw = n_head_kv *
// Dv, K = experts per token, E = experts, L = layers; all f32 unless said. pad(r): a row of r
// bytes rounded up to the binding alignment, so that each session of a batched decode step can
// bind its own row ([S, pad(r)] beside [B, r]: the buffer holds the larger).
struct ActivationLayout {
  uint64_t align = 16;        // storage-buffer offset alignment of the per-layer slices
  LayoutBuffer x;             // [B, H] residual stream
  LayoutBuffer xn;            // [B, H] normed copy (router output, head fallback)
  LayoutBuffer q;             // [B, qw] or [S, pad(qw)] q after bias, QK-norm and RoPE
  LayoutBuffer qkv;           // [B, qw + kw + vw] projections (MLA: [B, max(qw, q_lora) + kv_lora + rope])
  LayoutBuffer k, v;          // [B, kw], [B, vw] when q, k and v differ in type (not MLA)
  LayoutBuffer attn;          // [B, n_head * Dv] or [S, pad(n_head * Dv)] attention output
  LayoutBuffer ids, wts;      // u32 / f32 [L][align(T * K)] router choices of a batch of T <= B,
                              // one slice per layer (ids_slice(T) apart)
  LayoutBuffer routing;       // readback: ids | wts as above, copied for the sessions' statistics
  LayoutBuffer shared_gate;   // [B] Qwen2-MoE's sigmoid gate of the shared expert
  LayoutBuffer logits;        // [B, vocab] readback: LogitsMode::all reads every row of a batch
  LayoutBuffer tokens;        // u32 [B] upload
  LayoutBuffer positions;     // u32 [B] upload, or [S][pad(4)]: one aligned slot per session
  LayoutBuffer mla_latent;    // deepseek2: [B, max(q_lora, kv_lora)]
  LayoutBuffer mla_kv_a;      // deepseek2: [B, kv_lora + rope]
  LayoutBuffer mla_kv;        // deepseek2: [B, n_head * (nope + Dv)] or [S, pad(...)] decompressed k_nope | v
  LayoutBuffer ffn_gate;      // deepseek2 dense layers: [B, 2 * n_ff] gate | up
  LayoutBuffer ffn_up;        // deepseek2 dense layers: [B, n_ff]
  LayoutBuffer moe_h;         // MoE scratch [B * slots, F]: silu(gate) * up
  LayoutBuffer moe_y;         // MoE scratch [B * slots, H]: batched path's down projections
  LayoutBuffer moe_route;     // MoE scratch: batched path's tiles, counts and sorted slots
  LayoutBuffer attn_split;    // [S][pad(attn_split_slot)] decode attention's split partials of one token
  uint64_t attn_split_slot = 0;  // attention_scratch_bytes(n_head, Dv, 1, ATTN_MAX_SPLITS): a session's slot
  LayoutBuffer k_cache, v_cache;  // f16 [n_ctx, n_head_kv, Dk | Dv], one of each per layer and session
  LayoutBuffer x_in;          // [B, H] arctic (LayerSpec::parallel_dense): the layer's input, for its MoE;
                              // grok (ffn_post_norm): the FFN's output before its norm
  // The sliding-window layers' caches (ring_layer): rings of kv_ring = window + n_batch - 1 rows,
  // when that is below n_ctx (a session's batch of queries and the window before them).
  LayoutBuffer k_ring, v_ring;
  uint32_t kv_ring = 0;
  std::vector<bool> ring_layer;  // [L], or empty: every layer's cache is n_ctx long
  bool ring(uint32_t layer) const { return layer < ring_layer.size() && ring_layer[layer]; }
  uint32_t n_layer = 0;
  uint32_t n_sessions = 1;    // S: sessions, each with its own KV cache
  uint32_t n_batch = 1;       // B
  uint32_t moe_k = 0;         // K
  uint32_t moe_slots = 0;     // K, plus one for a shared expert riding in the routed pair

  uint64_t ids_slice() const;     // bytes between two layers' slices of ids / wts for B tokens
  uint64_t ids_slice(uint32_t tokens) const;  // ... for a batch of that many tokens
  uint64_t pad(uint64_t row_bytes) const;     // row_bytes rounded up to align
  std::vector<const LayoutBuffer*> buffers() const;  // every buffer, the caches once per layer and session
  uint64_t bytes(MemoryCategory c) const;
};

// The batch a block sizes its buffers for (runtime/blocks/block.h: activation_bytes).
struct BatchShape {
  uint64_t tokens = 1;    // B: max(n_batch, S)
  uint64_t sessions = 1;  // S
  uint64_t align = 16;    // the binding alignment of a session's row
  uint64_t max_range = 0; // maxStorageBufferRange
  uint64_t pad(uint64_t row_bytes) const { return (row_bytes + align - 1) / align * align; }
  // [B, r] packed rows, or one aligned row per session of a batched decode step: the larger.
  uint64_t rows(uint64_t row_bytes) const { return tokens * row_bytes > sessions * pad(row_bytes) ? tokens * row_bytes : sessions * pad(row_bytes); }
};

// One buffer a block asks for, by its place in the layout. Several blocks may ask for the same
// place (GQA and MLA both write q and the attention output; every layer reuses them): the layout
// keeps the largest.
struct BlockBuffer {
  LayoutBuffer ActivationLayout::*slot = nullptr;
  LayoutBuffer buffer;
};

// storage_align: the device's minStorageBufferOffsetAlignment; max_range: maxStorageBufferRange;
// n_sessions: conversations with their own KV cache of n_ctx each (-np). The activations are the
// merge of what each layer's blocks ask for (activation_bytes in runtime/blocks/), plus the
// pass's own (residual, tokens, positions, logits) and the KV caches.
ActivationLayout activation_layout(const ModelConfig& cfg, uint32_t n_batch, uint32_t n_ctx, uint64_t storage_align,
                                   uint64_t max_range, uint32_t n_sessions = 1);

}  // namespace vkmoe
