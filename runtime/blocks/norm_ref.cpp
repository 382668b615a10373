#include "runtime/blocks/norm_ref.h"

#include <cmath>

#include "runtime/model/model_config.h"
#include "runtime/reference/ref_math.h"

namespace vkmoe::blocks::norm {

using ref::Vec;

void reference(Vec& x, ref::RefWeights& w, const std::string& base, const ModelConfig& cfg) {
  if (cfg.layer_norm) {
    double mean = 0;
    for (double v : x) mean += v;
    mean /= static_cast<double>(x.size());
    for (double& v : x) v -= mean;
  }
  ref::rms_norm(x, w.get(base + ".weight"), cfg.norm_eps);
  if (cfg.norm_bias) ref::add_bias(x, &w.get(base + ".bias"));
}

void reference_attn_post(Vec& y, ref::RefWeights& w, uint32_t layer, const ModelConfig& cfg) {
  if (cfg.attn_post_norm) ref::rms_norm(y, w.get("blk." + std::to_string(layer) + ".attn_output_norm.weight"), cfg.norm_eps);
}

void reference_ffn_post(Vec& y, ref::RefWeights& w, uint32_t layer, const ModelConfig& cfg) {
  if (!cfg.ffn_post_norm.empty())
    ref::rms_norm(y, w.get("blk." + std::to_string(layer) + "." + cfg.ffn_post_norm + ".weight"), cfg.norm_eps);
}

Vec reference_head(ref::RefWeights& w, const ModelConfig& cfg, Vec x) {
  const ref::Mat* out = w.find("output.weight");
  if (!out) out = &w.get("token_embd.weight");  // tied embeddings
  reference(x, w, "output_norm", cfg);
  Vec y = ref::matvec(*out, x);
  if (cfg.logit_scale != 0.0f) ref::scale_by(y, cfg.logit_scale);  // Granite (1 / its key), Grok
  if (cfg.output_bias) ref::add_bias(y, &w.get("output.bias"));
  if (cfg.final_softcap > 0)
    for (double& e : y) e = cfg.final_softcap * std::tanh(e / cfg.final_softcap);
  return y;
}

}  // namespace vkmoe::blocks::norm
