// The blocks gpt-oss adds to the common layer (runtime/arch/gpt_oss.cpp sets the flags): the
// attention output bias and sinks, the router's logit bias, the experts' biases and clamped
// SwiGLU. Bound from the config's flags, never from the architecture's name, so any
// architecture with these tensors can use them.
#include <stdexcept>

#include "runtime/model/model.h"
#include "runtime/model/model_layer.h"

namespace vkmoe {

void Model::bind_layer_extras(Layer& L, uint32_t l) {
  const std::string b = "blk." + std::to_string(l) + ".";
  const uint32_t H = cfg_.n_embd, E = cfg_.n_expert, F = cfg_.n_ff_exp;
  bind_norm_extras(L, l);  // norm_blocks.cpp
  bind_parallel_dense(L, l);
  bind_grok_dense(L, l);  // dense_ffn.cpp
  auto need = [&](const std::string& name, uint64_t n) {
    BufferRange r = vector_weight(b + name, n);  // throws unless F32 [n]
    if (!r.size) throw std::runtime_error(file_.name() + ": missing tensor '" + b + name + "'");
    return r;
  };
  if (cfg_.attn_out_bias) L.bo = need("attn_output.bias", H);
  if (cfg_.layers[l].sinks) L.sinks = need("attn_sinks.weight", cfg_.n_head);
  if (L.dense_ffn) return;
  if (cfg_.router_bias) L.router.logit_bias = need("ffn_gate_inp.bias", E);
  if (cfg_.expert_bias) {
    // The gate and up biases were uploaded as one [2 E F] range (attention_concats in model.cpp).
    if (!weights_.find(b + "ffn_gate_up_exps.bias")) {
      for (const char* part : {"ffn_gate_exps.bias", "ffn_up_exps.bias"}) need(part, uint64_t(E) * F);
      throw std::runtime_error(file_.name() + ": '" + b + "ffn_gate_exps.bias' and '" + b +
                               "ffn_up_exps.bias' must be F32 [" + std::to_string(F) + ", " + std::to_string(E) + "]");
    }
    L.experts.gate_up_bias = need("ffn_gate_up_exps.bias", 2ull * E * F);
    L.experts.down_bias = need("ffn_down_exps.bias", uint64_t(E) * H);
  }
  L.experts.swiglu_oai = cfg_.swiglu_oai;
  L.experts.alpha = cfg_.swiglu_alpha;
  L.experts.limit = cfg_.swiglu_limit;
  L.experts.weight_input = cfg_.moe_weight_input;  // llama4
}

}  // namespace vkmoe
