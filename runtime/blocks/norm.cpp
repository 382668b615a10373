#include "runtime/blocks/norm.h"

#include <stdexcept>

#include "runtime/kernels/transformer_ops.h"
#include "runtime/model/model_config.h"
#include "runtime/model/weights.h"
#include "runtime/vk/context.h"
#include "runtime/vk/sequence.h"

namespace vkmoe::blocks::norm {

bool fused(const ModelConfig& cfg) { return !cfg.norm_bias && !cfg.layer_norm; }

NormPrologue prologue(const ModelConfig& cfg, BufferRange w, BufferRange b) {
  return {.weight = w, .eps = cfg.norm_eps, .bias = b, .center = cfg.layer_norm};
}

bool post_in_router(const ModelConfig& cfg, uint32_t l) {
  const LayerSpec& s = cfg.layers[l];
  return cfg.attn_post_norm && s.ffn == FfnKind::moe && !s.parallel_dense && cfg.n_expert > 0;
}

NormLayer bind(Weights& w, uint32_t l) {
  const ModelConfig& c = w.config();
  const std::string b = "blk." + std::to_string(l) + ".";
  const uint32_t H = c.n_embd;
  NormLayer n;
  n.attn_norm = w.vector(b + "attn_norm.weight", H);
  n.ffn_norm = w.vector(b + c.ffn_norm + ".weight", H);
  if (c.attn_post_norm) n.attn_post_norm = w.need(b + "attn_output_norm.weight", H);
  if (!c.ffn_post_norm.empty()) n.ffn_post_norm = w.need(b + c.ffn_post_norm + ".weight", H);
  if (c.norm_bias) {
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
  if (c.norm_bias) h.norm_b = w.need("output_norm.bias", H);
  return h;
}

std::vector<BlockBuffer> activation_bytes(const ModelConfig& c, const BatchShape& b) {
  std::vector<BlockBuffer> out{{&ActivationLayout::xn, {"x normed", b.tokens * c.n_embd * 4}}};
  if (!c.ffn_post_norm.empty() || c.attn_post_norm) out.push_back({&ActivationLayout::x_in, {"layer input (parallel MoE) / FFN output", b.tokens * c.n_embd * 4}});
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
  record_rms_norm(r.ctx, r.seq, {.tokens = T, .n = H, .eps = r.cfg.norm_eps, .accumulate = true}, y, w,
                  r.act.x.range(0, uint64_t(T) * H * 4));
}

MatmulOptions head_extras(const ModelConfig& cfg, const HeadWeights& head) {
  return {.bias = head.bias, .softcap = cfg.final_softcap};
}

}  // namespace vkmoe::blocks::norm
