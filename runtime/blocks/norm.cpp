#include "runtime/blocks/norm.h"

#include <stdexcept>

#include "runtime/kernels/transformer_ops.h"
#include "runtime/model/model_config.h"
#include "runtime/model/weights.h"
#include "runtime/vk/context.h"
#include "runtime/vk/sequence.h"

namespace vkmoe::blocks::norm {

bool fused(const ModelConfig& cfg) { return !cfg.norm_bias && !cfg.layer_norm; }

NormLayer bind(Weights& w, uint32_t l) {
  const ModelConfig& c = w.config();
  const std::string b = "blk." + std::to_string(l) + ".";
  const uint32_t H = c.n_embd;
  NormLayer n;
  n.attn_norm = w.vector(b + "attn_norm.weight", H);
  n.ffn_norm = w.vector(b + c.ffn_norm + ".weight", H);
  if (c.attn_post_norm) n.attn_post_norm = w.need(b + "attn_output_norm.weight", H);
  if (!c.ffn_post_norm.empty()) n.ffn_post_norm = w.need(b + c.ffn_post_norm + ".weight", H);
  if (!fused(c) && c.norm_bias) {
    n.attn_norm_b = w.need(b + "attn_norm.bias", H);
    n.ffn_norm_b = w.need(b + c.ffn_norm + ".bias", H);
  }
  return n;
}

HeadWeights bind_head(Weights& w) {
  const ModelConfig& c = w.config();
  const uint32_t H = c.n_embd, V = c.n_vocab;
  HeadWeights h;
  h.embd = w.dense_shaped("token_embd.weight", H, V);
  h.output = w.find("output.weight") ? w.dense_shaped("output.weight", H, V) : h.embd;  // tied embeddings
  h.norm = w.vector("output_norm.weight", H);
  if (c.output_bias) h.bias = w.need("output.bias", V);
  if (!fused(c) && c.norm_bias) h.norm_b = w.need("output_norm.bias", H);
  return h;
}

std::vector<BlockBuffer> activation_bytes(const ModelConfig& c, const BatchShape& b) {
  std::vector<BlockBuffer> out{{&ActivationLayout::xn, {"x normed", b.tokens * c.n_embd * 4}}};
  if (!c.ffn_post_norm.empty()) out.push_back({&ActivationLayout::x_in, {"layer input (parallel MoE) / FFN output", b.tokens * c.n_embd * 4}});
  return out;
}

BufferRange record(const BlockRun& r, BufferRange w, BufferRange b, uint32_t T, uint32_t first_row) {
  const uint32_t H = r.cfg.n_embd;
  const RmsNormShape s{.tokens = T, .n = H, .eps = r.cfg.norm_eps, .x_offset = first_row * H, .center = r.cfg.layer_norm};
  const BufferRange xn = r.act.xn.range(0, uint64_t(T) * H * 4);
  record_rms_norm(r.ctx, r.seq, s, r.act.x.range(0, uint64_t(first_row + T) * H * 4), w, xn, {}, {}, "", b);
  return xn;
}

void record_post(const BlockRun& r, BufferRange w, BufferRange y, uint32_t T) {
  const uint32_t H = r.cfg.n_embd;
  record_rms_norm(r.ctx, r.seq, {.tokens = T, .n = H, .eps = r.cfg.norm_eps}, y, w, y);
  const BufferRange x = r.act.x.range(0, uint64_t(T) * H * 4);
  record_add(r.ctx, r.seq, {.rows = T, .n = H}, x, y, x);
}

void record_head_extras(const BlockRun& r, const HeadWeights& head, uint32_t rows) {
  const uint32_t V = r.cfg.n_vocab;
  const BufferRange logits = r.act.logits.range(0, uint64_t(rows) * V * 4);
  if (head.bias.size) record_add(r.ctx, r.seq, {.rows = rows, .n = V, .b_stride = kEltBroadcast}, logits, head.bias, logits);
  if (r.cfg.final_softcap > 0) record_softcap(r.ctx, r.seq, {.rows = rows, .n = V}, logits, logits, r.cfg.final_softcap);
}

}  // namespace vkmoe::blocks::norm
