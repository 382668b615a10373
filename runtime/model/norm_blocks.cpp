// Block norms beyond a plain RMSNorm (ModelConfig::norm_bias, layer_norm): phimoe's RMS norms
// with a bias, DBRX's LayerNorm. The matmul and router prologues fold only a plain RMSNorm, so
// these run as one rms_norm dispatch (its bias and centre flags) into xn, which the next matvecs,
// the router and the experts read. Bound from the config's flags, never the architecture's name.
#include <stdexcept>

#include "runtime/model/model_layer.h"
#include "runtime/vk/context.h"
#include "runtime/vk/sequence.h"

namespace vkmoe {

void Model::bind_norm_extras(Layer& L, uint32_t l) {
  const std::string b = "blk." + std::to_string(l) + ".";
  auto need = [&](const std::string& name, uint64_t n) {
    BufferRange r = vector_weight(name, n);  // throws unless F32 [n]
    if (!r.size) throw std::runtime_error(file_.name() + ": missing tensor '" + name + "'");
    return r;
  };
  const bool last = l + 1 == cfg_.n_layer;  // the output head's tensors, once
  if (cfg_.attn_post_norm) L.attn_post_norm = need(b + "attn_output_norm.weight", cfg_.n_embd);
  if (!cfg_.ffn_post_norm.empty()) L.ffn_post_norm = need(b + cfg_.ffn_post_norm + ".weight", cfg_.n_embd);
  L.experts.gelu = cfg_.gelu_experts;
  if (last && cfg_.output_bias) output_b_ = need("output.bias", cfg_.n_vocab);
  if (fused_norms()) return;
  const uint32_t H = cfg_.n_embd;
  if (cfg_.norm_bias) {
    L.attn_norm_b = need(b + "attn_norm.bias", H);
    L.ffn_norm_b = need(b + cfg_.ffn_norm + ".bias", H);
  }
  L.router.norm = BufferRange{};  // the router reads xn, normed before it
  if (last && cfg_.norm_bias) output_norm_b_ = need("output_norm.bias", H);
}

// Rows first_row .. first_row + T of the residual stream, normed into xn's first T rows.
BufferRange Model::record_block_norm(Sequence& seq, BufferRange w, BufferRange b, uint32_t T, uint32_t first_row) {
  const uint32_t H = cfg_.n_embd;
  const RmsNormShape s{.tokens = T, .n = H, .eps = cfg_.norm_eps, .x_offset = first_row * H, .center = cfg_.layer_norm};
  const BufferRange xn = xn_.range(0, uint64_t(T) * H * 4);
  record_rms_norm(ctx_, seq, s, x_.range(0, uint64_t(first_row + T) * H * 4), w, xn, {}, {}, "", b);
  return xn;
}

void Model::record_output_bias(Sequence& seq, uint32_t rows) {
  const BufferRange logits = logits_.range(0, uint64_t(rows) * cfg_.n_vocab * 4);
  const EltShape s{.rows = rows, .n = cfg_.n_vocab};
  if (output_b_.size) record_add(ctx_, seq, {.rows = rows, .n = cfg_.n_vocab, .b_stride = kEltBroadcast}, logits, output_b_, logits);
  if (cfg_.final_softcap > 0) record_softcap(ctx_, seq, s, logits, logits, cfg_.final_softcap);
}

void Model::record_post_norm(Sequence& seq, BufferRange w, BufferRange y, uint32_t T) {
  const uint32_t H = cfg_.n_embd;
  record_rms_norm(ctx_, seq, {.tokens = T, .n = H, .eps = cfg_.norm_eps}, y, w, y);
  const BufferRange x = x_.range(0, uint64_t(T) * H * 4);
  record_add(ctx_, seq, {.rows = T, .n = H}, x, y, x);
}

}  // namespace vkmoe
