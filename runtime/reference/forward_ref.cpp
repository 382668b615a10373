#include "runtime/reference/forward_ref.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "runtime/blocks/attention_gqa_ref.h"
#include "runtime/blocks/attention_mla_ref.h"
#include "runtime/blocks/ffn_dense_ref.h"
#include "runtime/blocks/ffn_moe_ref.h"
#include "runtime/blocks/norm_ref.h"
#include "runtime/gguf/gguf_reader.h"
#include "runtime/model/model_config.h"
#include "runtime/model/rope_scaling.h"
#include "runtime/reference/ref_math.h"

// The forward pass assembled from the blocks' references (runtime/blocks/*_ref.h), each layer
// as its LayerSpec says, as the GPU forward assembles the blocks' recorders.
namespace vkmoe {

namespace {

using ref::Mat;
using ref::Vec;

// The per-pair RoPE divisors the GQA layers use for n_ctx positions (rope_freqs or LongRoPE's),
// or null; their length checked.
const Mat* rope_factors(ref::RefWeights& W, const ModelConfig& c, uint32_t n_ctx) {
  const std::string name = rope_factors_tensor(c, n_ctx);
  if (name.empty()) return nullptr;
  const Mat* f = &W.get(name);
  if (f->w.size() != c.n_rot / 2)
    throw std::runtime_error(W.file().name() + ": tensor '" + name + "' has " + std::to_string(f->w.size()) +
                             " elements, expected " + std::to_string(c.n_rot / 2));
  return f;
}

std::vector<Vec> embed(ref::RefWeights& W, const ModelConfig& c, std::span<const int32_t> tokens) {
  const Mat& embd = W.get("token_embd.weight");
  std::vector<Vec> x(tokens.size(), Vec(c.n_embd));
  for (size_t t = 0; t < tokens.size(); ++t) {
    if (tokens[t] < 0 || static_cast<uint32_t>(tokens[t]) >= c.n_vocab)
      throw std::out_of_range("token id " + std::to_string(tokens[t]) + " outside the vocabulary");
    for (uint32_t i = 0; i < c.n_embd; ++i) x[t][i] = embd.row(tokens[t])[i];
    if (c.embedding_scale != 0.0f) ref::scale_by(x[t], c.embedding_scale);  // Granite, Grok
  }
  return x;
}

// Layer l's attention (its kind from the LayerSpec) over every position, added to the residual.
void attention_step(ref::RefWeights& W, const ModelConfig& c, uint32_t l, std::vector<Vec>& x, const Mat* factors) {
  std::vector<Vec> xn = x;
  for (Vec& v : xn) blocks::norm::reference(v, W, "blk." + std::to_string(l) + ".attn_norm", c);
  std::vector<Vec> o = c.layers[l].attention == AttentionKind::mla ? blocks::attention_mla::reference(W, c, l, xn)
                                                                   : blocks::attention_gqa::reference(W, c, l, xn, factors);
  for (size_t t = 0; t < x.size(); ++t) {
    blocks::norm::reference_attn_post(o[t], W, l, c);
    for (uint32_t i = 0; i < c.n_embd; ++i) x[t][i] += o[t][i];
  }
}

// Layer l's FFN for one position: a dense FFN, or the MoE (+ shared experts); Arctic's dense FFN
// beside it (the MoE reads the layer's input *x_in, normed by ffn_norm_exps); Grok-2's GELU FFN
// beside it ((MoE + dense) / sqrt(2)); then Grok's post norm.
void ffn_step(ref::RefWeights& W, const ModelConfig& c, uint32_t l, Vec& x, const Vec* x_in, double* margin) {
  const std::string b = "blk." + std::to_string(l) + ".";
  const LayerSpec& spec = c.layers[l];
  Vec xn = x;
  blocks::norm::reference(xn, W, b + c.ffn_norm, c);
  if (spec.parallel_dense) {
    const Vec d = blocks::ffn_dense::reference(W, c, l, xn);
    for (uint32_t i = 0; i < c.n_embd; ++i) x[i] += d[i];
    xn = *x_in;
    blocks::norm::reference(xn, W, b + "ffn_norm_exps", c);
  }
  if (spec.ffn == FfnKind::dense) {
    const Vec out = blocks::ffn_dense::reference(W, c, l, xn);
    for (uint32_t i = 0; i < c.n_embd; ++i) x[i] += out[i];
    return;
  }
  Vec out = blocks::ffn_moe::reference(W, c, l, xn, margin);
  if (spec.grok_dense) {
    const Vec d = blocks::ffn_dense::reference(W, c, l, xn, true);
    for (uint32_t i = 0; i < c.n_embd; ++i) out[i] = (out[i] + d[i]) * (std::sqrt(2.0) / 2);
  }
  blocks::norm::reference_ffn_post(out, W, l, c);
  for (uint32_t i = 0; i < c.n_embd; ++i) x[i] += out[i];
}

}  // namespace

std::vector<double> reference_forward(const GgufFile& f, const ModelConfig& c, std::span<const int32_t> tokens,
                                      std::vector<double>* route_margins, uint32_t n_ctx) {
  ref::RefWeights W(f);
  const Mat* factors = rope_factors(W, c, n_ctx);
  if (route_margins) route_margins->assign(tokens.size(), INFINITY);
  std::vector<Vec> x = embed(W, c, tokens);
  for (uint32_t l = 0; l < c.n_layer; ++l) {
    const std::vector<Vec> x_in = c.layers[l].parallel_dense ? x : std::vector<Vec>{};
    attention_step(W, c, l, x, factors);
    for (size_t t = 0; t < x.size(); ++t)
      ffn_step(W, c, l, x[t], x_in.empty() ? nullptr : &x_in[t], route_margins ? &(*route_margins)[t] : nullptr);
  }
  std::vector<double> logits(x.size() * c.n_vocab);
  for (size_t t = 0; t < x.size(); ++t) {
    const Vec y = blocks::norm::reference_head(W, c, x[t]);
    std::copy(y.begin(), y.end(), logits.begin() + t * c.n_vocab);
  }
  return logits;
}

std::vector<int32_t> reference_greedy(const GgufFile& f, const ModelConfig& c, std::span<const int32_t> prompt, int steps,
                                      uint32_t n_ctx) {
  std::vector<int32_t> seq(prompt.begin(), prompt.end()), out;
  for (int s = 0; s < steps; ++s) {
    auto logits = reference_forward(f, c, seq, nullptr, n_ctx);
    const double* last = logits.data() + (seq.size() - 1) * c.n_vocab;
    int32_t best = 0;
    for (uint32_t i = 1; i < c.n_vocab; ++i)
      if (last[i] > last[best]) best = static_cast<int32_t>(i);
    out.push_back(best);
    seq.push_back(best);
  }
  return out;
}

}  // namespace vkmoe
