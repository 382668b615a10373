// The MLA attention block (DeepSeek-V2/V3 multi-head latent attention), run decompressed, as MHA:
// kv_b turns the normed latent into per-head k_nope and v, and the cache holds per-head keys
// [k_nope, k_pe] (Dk = nope + rope) and values (Dv). That keeps the head widths within the
// attention kernel's limit (the absorbed form attends over the 512 + 64-wide latent) at the
// price of a larger cache.
#pragma once
#include <vector>

#include "runtime/blocks/block.h"
#include "runtime/blocks/norm.h"
#include "runtime/kernels/matmul.h"

namespace vkmoe {

class GgufFile;

struct AttentionMlaLayer {
  DenseWeight wq;                  // attn_q without q_lora (V2-Lite), unless fused into wq_kv_a
  DenseWeight wq_a, wq_b;          // q_lora_rank > 0: attn_q_a [H -> q_lora], attn_q_b [q_lora -> n_head * Dk]
  BufferRange q_a_norm, kv_a_norm;
  // q_lora_rank > 0: [q_a_norm | pad to 4 | kv_a_norm] in one buffer, for q_b and kv_b as one
  // matvec pair (their norm weights at offsets into one binding); kv_a_norm at latent_norm_kv floats.
  BufferRange latent_norms;
  uint32_t latent_norm_kv = 0;
  DenseWeight wkv_a, wkv_b;        // attn_kv_a_mqa [H -> kv_lora + rope], attn_kv_b [kv_lora -> n_head * (nope + Dv)]
  DenseWeight wq_kv_a;             // [wq or wq_a | wkv_a] concatenated at load (one matvec), when they share a type
  DenseWeight wo;
};

namespace blocks::attention_mla {

AttentionMlaLayer bind(Weights& w, uint32_t layer);
// q and the attention output as GQA's (the cache's heads), the projections [B, max(qw, q_lora) +
// kv_lora + rope], the latent [B, max(q_lora, kv_lora)], kv_a [B, kv_lora + rope] and the
// decompressed [k_nope | v] [B, n_head * (nope + Dv)] or [S, pad(...)].
std::vector<BlockBuffer> activation_bytes(const ModelConfig& cfg, const BatchShape& b);
void record(const BlockRun& r, const AttentionMlaLayer& w, const NormLayer& norm);

}  // namespace blocks::attention_mla
}  // namespace vkmoe
