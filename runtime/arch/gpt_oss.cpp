#include "runtime/arch/gpt_oss.h"

#include <stdexcept>
#include <string>

#include "runtime/gguf/gguf_reader.h"
#include "runtime/model/model_config.h"

namespace vkmoe {

namespace {

[[noreturn]] void fail(const GgufFile& f, const std::string& what) { throw std::runtime_error(f.name() + ": " + what); }

uint32_t need_u32(const GgufFile& f, const std::string& key) {
  const auto v = f.get_uint(key);
  if (!v) fail(f, "missing hyperparameter '" + key + "'");
  if (*v == 0 || *v > (1u << 30)) fail(f, "hyperparameter '" + key + "' = " + std::to_string(*v) + " is out of range");
  return static_cast<uint32_t>(*v);
}

}  // namespace

// As llama.cpp's llama_model_openai_moe reads the file (src/models/openai-moe*.cpp):
//  - expert_feed_forward_length and attention.sliding_window are required;
//  - attention.sliding_window_pattern (default 2) marks layer l as sliding-window when
//    l % pattern < pattern - 1 (set_swa_pattern): even layers slide, odd ones see everything;
//  - heads are rope.dimension_count wide (n_rot) and the attention scale is 1/sqrt(n_rot);
//  - router: logits + ffn_gate_inp.bias, top-k, softmax over the k (SOFTMAX_WEIGHT);
//  - experts: (gate + b) and (up + b) through swiglu_oai (alpha 1.702, limit 7), down + b,
//    weighted; the FFN's pre-norm is post_attention_norm.
void configure_gpt_oss(const GgufFile& f, ModelConfig& c) {
  const std::string p = c.arch_key + ".";
  c.n_ff_exp = need_u32(f, p + "expert_feed_forward_length");
  c.n_swa = need_u32(f, p + "attention.sliding_window");
  uint32_t period = 2;
  // A per-layer array here is refused by get_uint, naming the key.
  if (auto v = f.get_uint(p + "attention.sliding_window_pattern")) period = static_cast<uint32_t>(*v);
  if (period > (1u << 20)) fail(f, "attention.sliding_window_pattern " + std::to_string(period) + " is out of range");
  if (c.n_rot != c.head_dim_k || c.head_dim_v != c.head_dim_k)
    fail(f, "gpt-oss heads are rope.dimension_count wide: key " + std::to_string(c.head_dim_k) + ", value " +
                std::to_string(c.head_dim_v) + ", rope " + std::to_string(c.n_rot));
  if (auto b = f.get_float(p + "rope.freq_base_swa"); b && static_cast<float>(*b) != c.rope_freq_base)
    fail(f, "rope.freq_base_swa " + std::to_string(*b) + " differs from rope.freq_base " +
                std::to_string(c.rope_freq_base) + "; per-layer RoPE bases are not supported");
  if (auto a = f.get_float(p + "rope.scaling.attn_factor")) {
    if (!(*a > 0 && *a < 100)) fail(f, "rope.scaling.attn_factor " + std::to_string(*a) + " is out of range");
    c.rope_attn_factor = static_cast<float>(*a);
  }
  if (c.n_expert_shared || c.n_layer_dense_lead)
    fail(f, "gpt-oss with shared experts or leading dense layers is not what llama.cpp loads");

  c.qkv_bias = true;
  c.attn_out_bias = true;
  c.router_bias = true;
  c.expert_bias = true;
  c.swiglu_oai = true;
  c.swiglu_alpha = 1.702f;  // llama.cpp's build_moe_ffn constants for LLM_FFN_SWIGLU_OAI_MOE
  c.swiglu_limit = 7.0f;
  c.ffn_norm = "post_attention_norm";
  c.router.gating = Gating::topk_softmax;
  c.router.renormalize = false;
  c.router.scale = 1.0f;  // expert_weights_scale is passed but not applied (scale_w = false)
  for (uint32_t l = 0; l < c.n_layer; ++l) {
    LayerSpec& s = c.layers[l];
    s.sinks = true;
    s.window = (period == 0 || l % period < period - 1) ? c.n_swa : 0;
  }
}

}  // namespace vkmoe
