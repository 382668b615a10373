#include "runtime/blocks/attention_mla_ref.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "runtime/blocks/attention_gqa_ref.h"
#include "runtime/model/deepseek2.h"
#include "runtime/model/model_config.h"
#include "runtime/model/rope_scaling.h"
#include "runtime/reference/ref_math.h"

namespace vkmoe::blocks::attention_mla {

namespace {

using attention_gqa::RefQkv;
using ref::Mat;
using ref::Vec;

// attn_kv_b, or the same rebuilt from attn_k_b / attn_v_b (kept under attn_kv_b's name).
const Mat& kv_b(ref::RefWeights& W, const ModelConfig& c, uint32_t layer) {
  const std::string name = "blk." + std::to_string(layer) + ".attn_kv_b.weight";
  if (const Mat* m = W.find(name)) return *m;
  return W.put(name, Mat{assemble_kv_b(W.file(), c, layer), c.kv_lora_rank,
                         uint64_t(c.n_head) * (c.qk_nope_dim + c.v_head_dim)});
}

RefQkv qkv_at(ref::RefWeights& W, const ModelConfig& c, uint32_t layer, const Vec& xn, uint32_t pos) {
  const std::string b = "blk." + std::to_string(layer) + ".";
  const ModelConfig::AttentionShape shape = c.attention_shape();
  const uint32_t NH = shape.n_head, Dk = shape.head_dim_k, Dv = shape.head_dim_v;
  const uint32_t nope = c.qk_nope_dim, rope_d = c.qk_rope_dim, kvl = c.kv_lora_rank;
  RefQkv r;
  if (c.q_lora_rank) {
    Vec qa = ref::matvec(W.get(b + "attn_q_a.weight"), xn);
    ref::rms_norm(qa, W.get(b + "attn_q_a_norm.weight"), c.norm_eps);
    r.q = ref::matvec(W.get(b + "attn_q_b.weight"), qa);
  } else {
    r.q = ref::matvec(W.get(b + "attn_q.weight"), xn);
  }
  Vec kv_a = ref::matvec(W.get(b + "attn_kv_a_mqa.weight"), xn);
  Vec k_pe(kv_a.begin() + kvl, kv_a.end()), lat(kv_a.begin(), kv_a.begin() + kvl);
  ref::rms_norm(lat, W.get(b + "attn_kv_a_norm.weight"), c.norm_eps);
  const Vec kv = ref::matvec(kv_b(W, c, layer), lat);
  ref::rope(r.q, NH, Dk, pos, c, nope, true);
  ref::rope(k_pe, 1, rope_d, pos, c, 0, true);
  r.k.resize(static_cast<size_t>(NH) * Dk);
  r.v.resize(static_cast<size_t>(NH) * Dv);
  for (uint32_t h = 0; h < NH; ++h) {
    const double* src = kv.data() + static_cast<size_t>(h) * (nope + Dv);
    std::copy(src, src + nope, r.k.begin() + static_cast<size_t>(h) * Dk);
    std::copy(k_pe.begin(), k_pe.end(), r.k.begin() + static_cast<size_t>(h) * Dk + nope);
    std::copy(src + nope, src + nope + Dv, r.v.begin() + static_cast<size_t>(h) * Dv);
  }
  return r;
}

}  // namespace

std::vector<Vec> reference(ref::RefWeights& w, const ModelConfig& cfg, uint32_t layer, const std::vector<Vec>& xn) {
  std::vector<RefQkv> qkv(xn.size());
  for (size_t t = 0; t < xn.size(); ++t) qkv[t] = qkv_at(w, cfg, layer, xn[t], static_cast<uint32_t>(t));
  // 1/sqrt(Dk) times DeepSeek's YaRN mscale^2 (mla_logit_scale).
  const double scale =
      cfg.attn_scale ? cfg.attn_scale : mla_logit_scale(cfg) / std::sqrt(static_cast<double>(cfg.attention_shape().head_dim_k));
  return attention_gqa::reference_attend(w, cfg, layer, qkv, scale);
}

}  // namespace vkmoe::blocks::attention_mla
