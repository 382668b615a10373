#include "runtime/memory/activation_layout.h"

#include <algorithm>

#include "runtime/blocks/attention_gqa.h"
#include "runtime/blocks/attention_mla.h"
#include "runtime/blocks/ffn_dense.h"
#include "runtime/blocks/ffn_moe.h"
#include "runtime/blocks/norm.h"
#include "runtime/kernels/transformer_ops.h"
#include "runtime/model/model_config.h"
#include "shaders/ops_params.h"

namespace vkmoe {

namespace {
uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }
}  // namespace

const char* category_name(MemoryCategory c) {
  switch (c) {
    case MemoryCategory::weights: return "weights";
    case MemoryCategory::kv_cache: return "kv_cache";
    case MemoryCategory::activations: return "activations";
    case MemoryCategory::logits: return "logits";
    case MemoryCategory::scratch: return "scratch";
    case MemoryCategory::staging: return "staging";
  }
  return "?";
}

uint64_t ActivationLayout::ids_slice() const { return ids.bytes / std::max<uint32_t>(1, n_layer); }
uint64_t ActivationLayout::ids_slice(uint32_t tokens) const { return align_up(uint64_t(tokens) * moe_k * 4, align); }
uint64_t ActivationLayout::pad(uint64_t row_bytes) const { return align_up(row_bytes, align); }

std::vector<const LayoutBuffer*> ActivationLayout::buffers() const {
  std::vector<const LayoutBuffer*> out{&x, &xn, &q, &qkv, &k, &v, &attn, &ids, &wts, &routing, &shared_gate,
                                       &logits, &tokens, &positions, &mla_latent, &mla_kv_a, &mla_kv, &ffn_gate,
                                       &ffn_up, &moe_h, &moe_y, &moe_route, &attn_split, &x_in};
  for (uint32_t s = 0; s < n_sessions; ++s)
    for (uint32_t l = 0; l < n_layer; ++l) {
      out.push_back(ring(l) ? &k_ring : &k_cache);
      out.push_back(ring(l) ? &v_ring : &v_cache);
    }
  return out;
}

uint64_t ActivationLayout::bytes(MemoryCategory c) const {
  uint64_t sum = 0;
  for (const LayoutBuffer* b : buffers())
    if (b->category == c) sum += b->bytes;
  return sum;
}

namespace {

// Each layer's blocks ask for their buffers; every layer reuses them, so a place asked for twice
// keeps the larger request.
void merge(ActivationLayout& a, const std::vector<BlockBuffer>& wants) {
  for (const BlockBuffer& w : wants) {
    LayoutBuffer& have = a.*w.slot;
    if (w.buffer.bytes > have.bytes) have = w.buffer;
  }
}

}  // namespace

ActivationLayout activation_layout(const ModelConfig& c, uint32_t n_batch, uint32_t n_ctx, uint64_t storage_align,
                                   uint64_t max_range, uint32_t n_sessions) {
  using C = MemoryCategory;
  ActivationLayout a;
  a.align = std::max<uint64_t>(16, storage_align);
  a.n_layer = c.n_layer;
  a.n_sessions = std::max<uint32_t>(1, n_sessions);
  a.n_batch = std::max(n_batch, a.n_sessions);  // a decode step of every session is one batch
  a.moe_k = c.n_expert_used;
  a.moe_slots = static_cast<uint32_t>(c.n_expert_used + (c.n_ff_shexp ? 1 : 0));
  const BatchShape b{.tokens = a.n_batch, .sessions = a.n_sessions, .align = a.align, .max_range = max_range};
  const uint64_t B = b.tokens, H = c.n_embd;
  // The pass's own: the residual stream, the token ids and positions uploaded, the logits read back.
  a.x = {"x (residual)", B * H * 4};
  a.logits = {"logits", B * c.n_vocab * 4, C::logits};
  a.tokens = {"tokens", B * 4};
  a.positions = {"positions", b.rows(4)};
  for (const LayerSpec& spec : c.layers) {
    merge(a, blocks::norm::activation_bytes(c, b));
    merge(a, spec.attention == AttentionKind::mla ? blocks::attention_mla::activation_bytes(c, b)
                                                  : blocks::attention_gqa::activation_bytes(c, b));
    if (blocks::ffn_dense::present(spec)) merge(a, blocks::ffn_dense::activation_bytes(c, b, spec));
    if (spec.ffn == FfnKind::moe) merge(a, blocks::ffn_moe::activation_bytes(c, b));
  }
  const ModelConfig::AttentionShape at = c.attention_shape();  // the cache's heads, not the file's (MLA)
  // Decode attention's split partials: one slot per session (BlockRun::attn_scratch), whichever
  // attention block the layers use.
  a.attn_split_slot = attention_scratch_bytes(at.n_head, at.head_dim_v, 1, ATTN_MAX_SPLITS);
  a.attn_split = {"attention split partials", a.n_sessions * a.pad(a.attn_split_slot), C::scratch};
  a.k_cache = {"K cache", kv_cache_bytes(n_ctx, at.n_head_kv, at.head_dim_k), C::kv_cache};
  a.v_cache = {"V cache", kv_cache_bytes(n_ctx, at.n_head_kv, at.head_dim_v), C::kv_cache};
  // Sliding-window layers keep only their window and one batch of a session's tokens (n_batch:
  // a decode step of S sessions gives each one token) as a ring.
  uint32_t window = 0;
  const uint32_t per_session = std::max<uint32_t>(1, n_batch);
  for (const LayerSpec& l : c.layers)
    if (l.attention == AttentionKind::gqa) window = std::max(window, l.window);
  if (window && uint64_t(window) + per_session - 1 < n_ctx) {
    a.kv_ring = window + per_session - 1;
    for (const LayerSpec& l : c.layers) a.ring_layer.push_back(l.attention == AttentionKind::gqa && l.window > 0);
    a.k_ring = {"K cache (window ring)", kv_cache_bytes(a.kv_ring, at.n_head_kv, at.head_dim_k), C::kv_cache};
    a.v_ring = {"V cache (window ring)", kv_cache_bytes(a.kv_ring, at.n_head_kv, at.head_dim_v), C::kv_cache};
  }
  return a;
}

}  // namespace vkmoe
