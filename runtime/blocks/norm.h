// The norm block: the layer's attention and FFN norms, their biases and post norms, and the
// output head's extras. Every block norm folds into the next kernel: the matmul's NormPrologue
// (RMSNorm, LayerNorm with center, a norm bias: prologue()) and the router, which writes the
// normed x for the experts. Only where no such kernel reads the input (the dense FFN's separate
// gate and up, a head row whose offset cannot be bound) does record() run it as one rms_norm
// dispatch into xn. Grok's post norms (the attention's and the FFN's outputs normed before the
// residual add): the attention's rides in the router's prologue (post_in_router), the FFN's is one
// rms_norm that adds into x (record_post). The head's bias and softcap ride in the head matmul.
// Bound from the config's flags, never the architecture's name.
#pragma once
#include <vector>

#include "runtime/blocks/block.h"
#include "runtime/kernels/matmul.h"

namespace vkmoe {

struct NormLayer {
  BufferRange attn_norm, ffn_norm;            // [H]
  BufferRange attn_norm_b, ffn_norm_b;        // the block norms' biases (phimoe), else empty
  BufferRange attn_post_norm, ffn_post_norm;  // grok: norms of the attention's and the FFN's outputs, else empty
};

// The embedding and the output head.
struct HeadWeights {
  DenseWeight embd, output;  // output is embd with tied embeddings
  BufferRange norm;          // output_norm [H] (times Granite's / Grok's logit scale, folded at load)
  BufferRange norm_b, bias;  // phimoe: output_norm.bias [H], output.bias [n_vocab]
};

namespace blocks::norm {

// Whether the block norms are plain RMSNorms (the dense FFN folds only those).
bool fused(const ModelConfig& cfg);
// The block norm w (and bias b) as a matmul prologue: RMSNorm, or LayerNorm with cfg.layer_norm.
NormPrologue prologue(const ModelConfig& cfg, BufferRange w, BufferRange b);
// Whether layer l's attention post norm and residual add run in its FFN router's prologue (an
// MoE layer whose router reads the residual stream), else record_post runs them.
bool post_in_router(const ModelConfig& cfg, uint32_t layer);
NormLayer bind(Weights& w, uint32_t layer);
HeadWeights bind_head(Weights& w);
// xn [B, H] (the normed copy every norm writes) and x_in [B, H] for the attention's and the
// FFN's outputs before their post norms (grok).
std::vector<BlockBuffer> activation_bytes(const ModelConfig& cfg, const BatchShape& b);
// Rows first_row .. first_row + T of the residual stream, normed by w (and bias b) into xn's
// first T rows; returns them.
BufferRange record(const BlockRun& r, BufferRange w, BufferRange b, uint32_t T, uint32_t first_row = 0);
// grok: y (the attention's or the FFN's output, [T, H], apart from x) RMS-normed by w and added
// to x, in one dispatch.
void record_post(const BlockRun& r, BufferRange w, BufferRange y, uint32_t T);
// The head's extras as matmul options: its bias, then grok's final softcap, at the store.
MatmulOptions head_extras(const ModelConfig& cfg, const HeadWeights& head);

}  // namespace blocks::norm
}  // namespace vkmoe
