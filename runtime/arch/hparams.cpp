#include "runtime/arch/hparams.h"

#include <cmath>
#include <stdexcept>

#include "runtime/model/model_config.h"

namespace vkmoe {

void Hparams::fail(const std::string& what) const { throw std::runtime_error(f_.name() + ": " + what); }

bool Hparams::has(const std::string& key) const { return f_.has(p_ + key); }

uint32_t Hparams::need_u32(const std::string& key) const {
  auto v = f_.get_uint(p_ + key);
  if (!v) fail("missing hyperparameter '" + p_ + key + "'");
  if (*v == 0 || *v > (1u << 30)) fail("hyperparameter '" + p_ + key + "' = " + std::to_string(*v) + " is out of range");
  return static_cast<uint32_t>(*v);
}

uint32_t Hparams::opt_u32(const std::string& key, uint32_t def) const {
  auto v = f_.get_uint(p_ + key);
  if (!v) return def;
  if (*v > (1u << 30)) fail("hyperparameter '" + p_ + key + "' = " + std::to_string(*v) + " is out of range");
  return static_cast<uint32_t>(*v);
}

// NaN or Inf here would make every logit NaN.
float Hparams::opt_float(const std::string& key, double def, double min, double max) const {
  const double v = f_.get_float(p_ + key).value_or(def);
  if (!std::isfinite(v) || v < min || v > max)
    fail("hyperparameter '" + p_ + key + "' = " + std::to_string(v) + " is out of range (" + std::to_string(min) + " to " +
         std::to_string(max) + ")");
  return static_cast<float>(v);
}

bool Hparams::opt_bool(const std::string& key, bool def) const { return f_.get_bool(p_ + key).value_or(def); }

void need_rope_over_whole_heads(const Hparams& h, const ModelConfig& c) {
  if (c.n_rot != c.head_dim_k || c.head_dim_v != c.head_dim_k)
    h.fail(c.arch_key + " heads are rope.dimension_count wide: key " + std::to_string(c.head_dim_k) + ", value " +
           std::to_string(c.head_dim_v) + ", rope " + std::to_string(c.n_rot));
}

void read_gating_func(const Hparams& h, ModelConfig& c) {
  const uint32_t func = h.opt_u32("expert_gating_func", 0);
  if (func != 1 && func != 2)
    h.fail("expert_gating_func " + std::to_string(func) + " (missing or unknown; 1 softmax, 2 sigmoid)");
  c.router.gating = func == 2 ? Gating::sigmoid_group : Gating::softmax_topk;
  c.softmax_selection_bias =
      func == 1 && h.has_tensor("blk." + std::to_string(c.n_layer_dense_lead) + ".exp_probs_b.bias");
}

void split_nextn_layers(const Hparams& h, ModelConfig& c) {
  c.n_layer_nextn = h.opt_u32("nextn_predict_layers", 0);
  if (c.n_layer_nextn >= c.n_layer)
    h.fail("nextn_predict_layers " + std::to_string(c.n_layer_nextn) + " leaves no layer of block_count " +
           std::to_string(c.n_layer));
  c.n_layer -= c.n_layer_nextn;
}

void fill_layers(ModelConfig& c, AttentionKind attention) {
  c.layers.clear();
  for (uint32_t l = 0; l < c.n_layer; ++l) {
    LayerSpec s;
    s.attention = attention;
    s.ffn = l < c.n_layer_dense_lead ? FfnKind::dense : FfnKind::moe;
    s.shared_experts = s.ffn == FfnKind::moe && c.n_expert_shared > 0;
    c.layers.push_back(s);
  }
}

}  // namespace vkmoe
