// The norm block: the layer's attention and FFN norms, their biases and post norms, and the
// output head's extras. A plain RMSNorm folds into the next kernel (the matmul's NormPrologue,
// the router), so it records nothing here; a norm with a bias (phimoe) or a LayerNorm (dbrx;
// ModelConfig::norm_bias, layer_norm) runs as one rms_norm dispatch into xn, which the next
// matvecs, the router and the experts read. Grok's post norms (the attention's and the FFN's
// outputs normed before the residual add) and the head's bias, logit scale and softcap are here
// too. Bound from the config's flags, never the architecture's name.
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

// Whether the block norms fold into the next kernel (a plain RMSNorm).
bool fused(const ModelConfig& cfg);
NormLayer bind(Weights& w, uint32_t layer);
HeadWeights bind_head(Weights& w);
// xn [B, H] (the normed copy every norm writes) and x_in [B, H] for the FFN's output before its
// post norm (grok).
std::vector<BlockBuffer> activation_bytes(const ModelConfig& cfg, const BatchShape& b);
// Rows first_row .. first_row + T of the residual stream, normed by w (and bias b) into xn's
// first T rows; returns them.
BufferRange record(const BlockRun& r, BufferRange w, BufferRange b, uint32_t T, uint32_t first_row = 0);
// grok: y (the attention's or the FFN's output, [T, H]) RMS-normed by w in place, added to x.
void record_post(const BlockRun& r, BufferRange w, BufferRange y, uint32_t T);
// The head's extras on logits [rows, vocab]: its bias, then grok's final softcap.
void record_head_extras(const BlockRun& r, const HeadWeights& head, uint32_t rows);

}  // namespace blocks::norm
}  // namespace vkmoe
