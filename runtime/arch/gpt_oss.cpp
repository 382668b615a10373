// gpt-oss (general.architecture "gpt-oss"; llama.cpp's LLM_ARCH_OPENAI_MOE).
#include <string>

#include "runtime/arch/hparams.h"
#include "runtime/arch/registry.h"

namespace vkmoe {

// As llama.cpp's llama_model_openai_moe reads the file (src/models/openai-moe*.cpp):
//  - expert_feed_forward_length and attention.sliding_window are required;
//  - attention.sliding_window_pattern (default 2) marks layer l as sliding-window when
//    l % pattern < pattern - 1 (set_swa_pattern): even layers slide, odd ones see everything;
//  - heads are rope.dimension_count wide (n_rot) and the attention scale is 1/sqrt(n_rot);
//  - router: logits + ffn_gate_inp.bias, top-k, softmax over the k (SOFTMAX_WEIGHT);
//  - experts: (gate + b) and (up + b) through swiglu_oai (alpha 1.702, limit 7), down + b,
//    weighted; the FFN's pre-norm is post_attention_norm.
void read_gpt_oss(const Hparams& h, ModelConfig& c) {
  c.rope_layout = RopeLayout::neox;
  c.n_ff_exp = h.need_u32("expert_feed_forward_length");
  c.n_swa = h.need_u32("attention.sliding_window");
  uint32_t period = 2;
  // A per-layer array here is refused by get_uint, naming the key.
  if (auto v = h.file().get_uint(h.prefix() + "attention.sliding_window_pattern")) period = static_cast<uint32_t>(*v);
  if (period > (1u << 20)) h.fail("attention.sliding_window_pattern " + std::to_string(period) + " is out of range");
  if (c.n_rot != c.head_dim_k || c.head_dim_v != c.head_dim_k)
    h.fail("gpt-oss heads are rope.dimension_count wide: key " + std::to_string(c.head_dim_k) + ", value " +
           std::to_string(c.head_dim_v) + ", rope " + std::to_string(c.n_rot));
  if (auto b = h.file().get_float(h.prefix() + "rope.freq_base_swa"); b && static_cast<float>(*b) != c.rope_freq_base)
    h.fail("rope.freq_base_swa " + std::to_string(*b) + " differs from rope.freq_base " +
           std::to_string(c.rope_freq_base) + "; per-layer RoPE bases are not supported");
  if (h.opt_u32("expert_shared_count", 0) || h.opt_u32("leading_dense_block_count", 0))
    h.fail("gpt-oss with shared experts or leading dense layers is not what llama.cpp loads");

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
  fill_layers(c);
  for (uint32_t l = 0; l < c.n_layer; ++l) {
    LayerSpec& s = c.layers[l];
    s.sinks = true;
    s.window = (period == 0 || l % period < period - 1) ? c.n_swa : 0;
  }
}

}  // namespace vkmoe
