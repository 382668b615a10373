// The GQA attention block: q/k/v projections with the attention norm folded in (one matvec when
// fused at load; a norm with a bias or a LayerNorm runs first, norm block), then one
// rope_kv_store per session (biases, QK-norm per head or whole, after RoPE or before, llama4's
// weightless L2 norm or temperature on NoPE layers, DBRX's clamp, RoPE with YaRN / frequency
// factors, the store into the session's cache), attention over that cache (sinks, sliding window
// or chunks, softcap), Granite's residual scale, the output projection added into the residual
// (or through Grok's post norm) and gpt-oss's output bias.
#pragma once
#include <vector>

#include "runtime/blocks/block.h"
#include "runtime/blocks/norm.h"
#include "runtime/kernels/matmul.h"

namespace vkmoe {

struct AttentionGqaLayer {
  DenseWeight wqkv;            // rows q | k | v concatenated at load (one matvec), when they share a type
  DenseWeight wq, wk, wv, wo;  // wq/wk/wv only without wqkv
  BufferRange bqkv;            // Qwen2-MoE biases [q | k | v], else empty
  BufferRange qk_norm;         // [q_norm | k_norm]: Qwen3 (per head) / OLMoE (whole vector), else empty
  BufferRange bo;              // attn_output.bias [H] (gpt-oss), else empty
  BufferRange sinks;           // attn_sinks [n_head] (gpt-oss), else empty
  BufferRange freq_factors;    // [n_rot / 2] RoPE frequency factors (llama4, LongRoPE), else empty
};

namespace blocks::attention_gqa {

AttentionGqaLayer bind(Weights& w, uint32_t layer);
// q [B, qw] or [S, pad(qw)], the projections [B, qw + kw + vw], k and v apart [B, kw], [B, vw],
// the attention output [B, n_head * Dv] or [S, pad(...)].
std::vector<BlockBuffer> activation_bytes(const ModelConfig& cfg, const BatchShape& b);
void record(const BlockRun& r, const AttentionGqaLayer& w, const NormLayer& norm);

}  // namespace blocks::attention_gqa
}  // namespace vkmoe
