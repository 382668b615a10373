#include "runtime/memory/activation_layout.h"

#include <algorithm>

#include "runtime/kernels/moe_experts.h"
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

ActivationLayout activation_layout(const ModelConfig& c, uint32_t n_batch, uint32_t n_ctx, uint64_t storage_align,
                                   uint64_t max_range, uint32_t n_sessions) {
  using C = MemoryCategory;
  ActivationLayout a;
  a.align = std::max<uint64_t>(16, storage_align);
  a.n_layer = c.n_layer;
  a.n_sessions = std::max<uint32_t>(1, n_sessions);
  a.n_batch = std::max(n_batch, a.n_sessions);  // a decode step of every session is one batch
  a.moe_k = c.n_expert_used;
  const uint64_t B = a.n_batch, S = a.n_sessions, H = c.n_embd, K = c.n_expert_used;
  // [B, r] packed rows, or one aligned row per session of a batched decode step.
  auto rows = [&](uint64_t r) { return std::max(B * r, S * a.pad(r)); };
  const ModelConfig::AttentionShape at = c.attention_shape();  // the cache's heads, not the file's (MLA)
  const uint64_t qw = uint64_t(at.n_head) * at.head_dim_k, kw = uint64_t(at.n_head_kv) * at.head_dim_k,
                 vw = uint64_t(at.n_head_kv) * at.head_dim_v;
  bool mla = false, dense = false;
  for (const LayerSpec& s : c.layers) mla |= s.attention == AttentionKind::mla, dense |= s.ffn == FfnKind::dense;
  a.x = {"x (residual)", B * H * 4};
  a.xn = {"x normed", B * H * 4};
  a.q = {"q", rows(qw * 4)};
  a.qkv = {"q|k|v projections", B * 4 * (mla ? std::max<uint64_t>(qw, c.q_lora_rank) + c.kv_lora_rank + c.qk_rope_dim : qw + kw + vw)};
  if (!mla) {
    a.k = {"k", B * kw * 4};
    a.v = {"v", B * vw * 4};
  }
  a.attn = {"attention out", rows(uint64_t(at.n_head) * at.head_dim_v * 4)};
  a.ids = {"expert ids", c.n_layer * align_up(B * K * 4, a.align)};
  a.wts = {"expert weights", c.n_layer * align_up(B * K * 4, a.align)};
  a.routing = {"routing readback", a.ids.bytes + a.wts.bytes};
  a.shared_gate = {"shared gate", B * 4};
  a.logits = {"logits", B * c.n_vocab * 4, C::logits};
  a.tokens = {"tokens", B * 4};
  a.positions = {"positions", rows(4)};
  if (mla) {
    a.mla_latent = {"mla latent", B * std::max(c.q_lora_rank, c.kv_lora_rank) * 4};
    a.mla_kv_a = {"mla kv_a", B * (c.kv_lora_rank + c.qk_rope_dim) * 4};
    a.mla_kv = {"mla kv", rows(uint64_t(at.n_head) * (c.qk_nope_dim + at.head_dim_v) * 4)};
  }
  bool parallel = false;
  for (const LayerSpec& s : c.layers) parallel |= s.parallel_dense || s.grok_dense;
  if (parallel || !c.ffn_post_norm.empty()) a.x_in = {"layer input (parallel MoE) / FFN output", B * H * 4};
  if (dense || parallel) {
    a.ffn_gate = {"dense ffn gate (| up)", B * 2 * c.n_ff * 4};
    a.ffn_up = {"dense ffn up", B * c.n_ff * 4};
  }
  a.moe_slots = static_cast<uint32_t>(K + (c.n_ff_shexp ? 1 : 0));
  const MoeScratchBytes s = moe_scratch_bytes({.tokens = a.n_batch, .k = a.moe_slots, .experts = c.n_expert, .hidden = c.n_embd,
                                               .ffn = std::max(c.n_ff_exp, c.n_ff_shexp)},
                                              max_range);
  a.moe_h = {"moe h", s.h, C::scratch};
  a.moe_y = {"moe y", s.y, C::scratch};
  a.moe_route = {"moe route", s.route, C::scratch};
  a.attn_split_slot = attention_scratch_bytes(at.n_head, at.head_dim_v, 1, ATTN_MAX_SPLITS);
  a.attn_split = {"attention split partials", S * a.pad(a.attn_split_slot), C::scratch};
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
