#include "runtime/blocks/attention_gqa_ref.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "runtime/model/model_config.h"
#include "runtime/reference/ref_math.h"

namespace vkmoe::blocks::attention_gqa {

namespace {

using ref::Mat;
using ref::Vec;

// Attention of query t over keys lo .. t (lo > 0 under a sliding window or chunk); with a sink,
// the head's sink logit joins the softmax denominator (and adds no value).
void attend(const std::vector<RefQkv>& qkv, const ModelConfig::AttentionShape& a, uint32_t t, uint32_t lo, double scale,
            const Mat* sinks, Vec& attn, double softcap) {
  const uint32_t Dk = a.head_dim_k, Dv = a.head_dim_v, NH = a.n_head, NKV = a.n_head_kv;
  for (uint32_t h = 0; h < NH; ++h) {
    const uint32_t kvh = h / (NH / NKV);
    Vec s(t + 1 - lo);
    double m = sinks ? sinks->w[h] : -INFINITY;
    for (uint32_t j = lo; j <= t; ++j) {
      double d = 0;
      for (uint32_t i = 0; i < Dk; ++i) d += qkv[t].q[h * Dk + i] * qkv[j].k[kvh * Dk + i];
      s[j - lo] = d * scale;
      if (softcap > 0) s[j - lo] = softcap * std::tanh(s[j - lo] / softcap);
      m = std::fmax(m, s[j - lo]);
    }
    double sum = sinks ? std::exp(sinks->w[h] - m) : 0.0;
    for (auto& e : s) sum += (e = std::exp(e - m));
    for (uint32_t j = lo; j <= t; ++j)
      for (uint32_t i = 0; i < Dv; ++i) attn[h * Dv + i] += s[j - lo] / sum * qkv[j].v[kvh * Dv + i];
  }
}

// RoPE (unless the layer has none), then llama4's weightless per-head RMS norm of q and k (its
// RoPE layers) or q's attention temperature (its NoPE layers).
void rope_and_after(RefQkv& r, const ModelConfig& c, const LayerSpec& spec, uint32_t pos, const Mat* freq_factors) {
  if (spec.rope) {
    ref::rope(r.q, c.n_head, c.head_dim_k, pos, c, 0, false, freq_factors);
    ref::rope(r.k, c.n_head_kv, c.head_dim_k, pos, c, 0, false, freq_factors);
  }
  if (spec.qk_l2_norm) {
    const Mat ones{std::vector<float>(c.head_dim_k, 1.0f), c.head_dim_k, 1};
    ref::rms_norm(r.q, ones, c.norm_eps, c.head_dim_k);
    ref::rms_norm(r.k, ones, c.norm_eps, c.head_dim_k);
  }
  if (spec.attn_temp)
    ref::scale_by(r.q, std::log(std::floor((pos + double(c.attn_temp_offset)) / c.attn_temp_floor) + 1.0) *
                           double(c.attn_temp_scale) + 1.0);
}

// The q/k/v projections: one fused attn_qkv (DBRX, bailingmoe2: rows q | k | v) or three, each
// with its optional output scale; then the biases and DBRX's clamp (after the bias, before
// QK-norm and RoPE, as llama.cpp's build_qkv).
RefQkv project(ref::RefWeights& W, const ModelConfig& c, const std::string& b, const Vec& xn) {
  RefQkv r;
  if (const Mat* qkv = W.find(b + "attn_qkv.weight")) {
    const uint64_t qw = uint64_t(c.n_head) * c.head_dim_k, kw = uint64_t(c.n_head_kv) * c.head_dim_k;
    r = {ref::matvec(*qkv, xn, 0, qw), ref::matvec(*qkv, xn, qw, kw),
         ref::matvec(*qkv, xn, qw + kw, uint64_t(c.n_head_kv) * c.head_dim_v)};
  } else {
    r = {ref::matvec(W.get(b + "attn_q.weight"), xn), ref::matvec(W.get(b + "attn_k.weight"), xn),
         ref::matvec(W.get(b + "attn_v.weight"), xn)};
    ref::scale_by(r.q, W.scale(b + "attn_q"));
    ref::scale_by(r.k, W.scale(b + "attn_k"));
    ref::scale_by(r.v, W.scale(b + "attn_v"));
  }
  ref::add_bias(r.q, W.find(b + "attn_q.bias"));
  ref::add_bias(r.k, W.find(b + "attn_k.bias"));
  ref::add_bias(r.v, W.find(b + "attn_v.bias"));
  if (c.clamp_kqv > 0)
    for (Vec* p : {&r.q, &r.k, &r.v})
      for (double& e : *p) e = std::clamp(e, -double(c.clamp_kqv), double(c.clamp_kqv));
  return r;
}

// Projections, biases, QK-norm (whole vector: OLMoE; per head: Qwen3; after RoPE: Hunyuan) and RoPE.
RefQkv qkv_at(ref::RefWeights& W, const ModelConfig& c, uint32_t layer, const Vec& xn, uint32_t pos, const Mat* freq_factors) {
  const std::string b = "blk." + std::to_string(layer) + ".";
  RefQkv r = project(W, c, b, xn);
  auto qk_norm = [&] {
    if (c.qk_norm_full) {
      ref::rms_norm(r.q, W.get(b + "attn_q_norm.weight"), c.norm_eps);
      ref::rms_norm(r.k, W.get(b + "attn_k_norm.weight"), c.norm_eps);
    }
    if (c.qk_norm_per_head) {
      ref::rms_norm(r.q, W.get(b + "attn_q_norm.weight"), c.norm_eps, c.head_dim_k);
      ref::rms_norm(r.k, W.get(b + "attn_k_norm.weight"), c.norm_eps, c.head_dim_k);
    }
  };
  if (!c.qk_norm_after_rope) qk_norm();
  rope_and_after(r, c, c.layers[layer], pos, freq_factors);
  if (c.qk_norm_after_rope) qk_norm();
  return r;
}

}  // namespace

std::vector<Vec> reference(ref::RefWeights& w, const ModelConfig& cfg, uint32_t layer, const std::vector<Vec>& xn,
                           const Mat* freq_factors) {
  std::vector<RefQkv> qkv(xn.size());
  for (size_t t = 0; t < xn.size(); ++t) qkv[t] = qkv_at(w, cfg, layer, xn[t], static_cast<uint32_t>(t), freq_factors);
  const double scale = cfg.attn_scale ? cfg.attn_scale : 1.0 / std::sqrt(static_cast<double>(cfg.attention_shape().head_dim_k));
  return reference_attend(w, cfg, layer, qkv, scale);
}

std::vector<Vec> reference_attend(ref::RefWeights& w, const ModelConfig& cfg, uint32_t layer,
                                  const std::vector<RefQkv>& qkv, double scale) {
  const std::string b = "blk." + std::to_string(layer) + ".";
  const ModelConfig::AttentionShape shape = cfg.attention_shape();
  const LayerSpec& spec = cfg.layers[layer];
  const uint32_t window = spec.window;
  const Mat* sinks = spec.sinks ? &w.get(b + "attn_sinks.weight") : nullptr;
  std::vector<Vec> out(qkv.size());
  for (uint32_t t = 0; t < qkv.size(); ++t) {
    Vec attn(static_cast<size_t>(shape.n_head) * shape.head_dim_v, 0.0);
    const uint32_t lo = spec.chunked ? t / window * window : window && t >= window ? t + 1 - window : 0;
    attend(qkv, shape, t, lo, scale, sinks, attn, cfg.attn_softcap);
    Vec o = ref::matvec(w.get(b + "attn_output.weight"), attn);
    ref::scale_by(o, w.scale(b + "attn_output"));
    if (cfg.residual_scale != 0.0f) ref::scale_by(o, cfg.residual_scale);  // Granite (its FFN's: router.scale)
    ref::add_bias(o, w.find(b + "attn_output.bias"));
    out[t] = std::move(o);
  }
  return out;
}

}  // namespace vkmoe::blocks::attention_gqa
