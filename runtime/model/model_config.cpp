#include "runtime/model/model_config.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include "runtime/arch/gpt_oss.h"
#include "runtime/gguf/gguf_reader.h"

namespace vkmoe {

const char* arch_name(Arch a) {
  switch (a) {
    case Arch::qwen3moe: return "qwen3moe";
    case Arch::qwen2moe: return "qwen2moe";
    case Arch::mixtral: return "mixtral (llama with experts)";
    case Arch::olmoe: return "olmoe";
    case Arch::deepseek2: return "deepseek2";
    case Arch::gpt_oss: return "gpt-oss";
  }
  return "?";
}

namespace {

[[noreturn]] void fail(const GgufFile& f, const std::string& what) {
  throw std::runtime_error(f.name() + ": " + what);
}

uint32_t need_u32(const GgufFile& f, const std::string& key) {
  auto v = f.get_uint(key);
  if (!v) fail(f, "missing hyperparameter '" + key + "'");
  if (*v == 0 || *v > (1u << 30)) fail(f, "hyperparameter '" + key + "' = " + std::to_string(*v) + " is out of range");
  return static_cast<uint32_t>(*v);
}

uint32_t opt_u32(const GgufFile& f, const std::string& key, uint32_t def) {
  auto v = f.get_uint(key);
  if (!v) return def;
  if (*v > (1u << 30)) fail(f, "hyperparameter '" + key + "' = " + std::to_string(*v) + " is out of range");
  return static_cast<uint32_t>(*v);
}

// A float hyperparameter in [min, max] (finite): NaN or Inf here would make every logit NaN.
float opt_float(const GgufFile& f, const std::string& key, double def, double min, double max) {
  const double v = f.get_float(key).value_or(def);
  if (!std::isfinite(v) || v < min || v > max)
    fail(f, "hyperparameter '" + key + "' = " + std::to_string(v) + " is out of range (" + std::to_string(min) + " to " +
                std::to_string(max) + ")");
  return static_cast<float>(v);
}

// No float in the metadata may be NaN or Inf, used by vkmoe or not. In arrays only NaN is
// refused: tokenizer scores may hold -Inf for tokens that must never merge.
void check_floats_finite(const GgufFile& f) {
  for (const auto& m : f.metadata()) {
    const bool is_float = m.type == GgufValueType::FLOAT32 || m.type == GgufValueType::FLOAT64;
    const bool float_array = m.type == GgufValueType::ARRAY &&
                             (m.array_type == GgufValueType::FLOAT32 || m.array_type == GgufValueType::FLOAT64);
    if (is_float && !std::isfinite(*f.get_float(m.key))) fail(f, "metadata '" + m.key + "' is " + m.summary);
    if (float_array)
      for (float v : f.get_f32_array(m.key))
        if (std::isnan(v)) fail(f, "metadata '" + m.key + "' holds NaN");
  }
}

}  // namespace

ModelConfig load_model_config(const GgufFile& f) {
  check_floats_finite(f);
  ModelConfig c;
  c.arch_key = std::string(f.architecture());
  c.name = std::string(f.get_string("general.name").value_or(""));
  const std::string& a = c.arch_key;
  const std::string p = a + ".";
  const bool has_experts = f.get_uint(p + "expert_count").value_or(0) > 0;
  if (a == "qwen3moe") c.arch = Arch::qwen3moe;
  else if (a == "qwen2moe") c.arch = Arch::qwen2moe;
  else if (a == "olmoe") c.arch = Arch::olmoe;
  else if (a == "deepseek2") c.arch = Arch::deepseek2;
  else if (a == "gpt-oss") c.arch = Arch::gpt_oss;
  else if ((a == "llama" || a == "mixtral") && has_experts) c.arch = Arch::mixtral;
  else if (a == "llama")
    fail(f, "architecture 'llama' without experts is a dense model; vkmoe runs Mixture-of-Experts models "
            "(qwen3moe, qwen2moe, llama with experts (Mixtral), olmoe, deepseek2)");
  else
    fail(f, "unsupported architecture '" + a + "'; supported: qwen3moe, qwen2moe, llama with experts (Mixtral), olmoe, deepseek2, gpt-oss");

  const GgufTensorInfo* embd = f.find_tensor("token_embd.weight");
  if (!embd || embd->shape.size() != 2) fail(f, "tensor 'token_embd.weight' is missing or not 2-D");
  c.n_embd = need_u32(f, p + "embedding_length");
  if (embd->shape[0] != c.n_embd)
    fail(f, "token_embd.weight has rows of " + std::to_string(embd->shape[0]) + ", expected embedding_length " +
                std::to_string(c.n_embd));
  c.n_vocab = static_cast<uint32_t>(embd->shape[1]);
  c.n_layer = need_u32(f, p + "block_count");
  c.n_ctx_train = opt_u32(f, p + "context_length", 4096);
  c.n_head = need_u32(f, p + "attention.head_count");
  c.n_head_kv = opt_u32(f, p + "attention.head_count_kv", c.n_head);
  if (c.n_head % c.n_head_kv) fail(f, "head_count " + std::to_string(c.n_head) + " is not a multiple of head_count_kv " + std::to_string(c.n_head_kv));
  c.head_dim_k = opt_u32(f, p + "attention.key_length", c.n_embd / c.n_head);
  c.head_dim_v = opt_u32(f, p + "attention.value_length", c.head_dim_k);
  c.norm_eps = opt_float(f, p + "attention.layer_norm_rms_epsilon", 1e-6, 1e-12, 1.0);

  c.rope_layout = (c.arch == Arch::mixtral || c.arch == Arch::deepseek2) ? RopeLayout::normal : RopeLayout::neox;
  c.n_rot = opt_u32(f, p + "rope.dimension_count", c.head_dim_k);
  c.rope_freq_base = opt_float(f, p + "rope.freq_base", 10000.0, 1.0, 1e12);
  const std::string scaling(f.get_string(p + "rope.scaling.type").value_or("none"));
  const double factor = opt_float(f, p + "rope.scaling.factor", 0.0, 0.0, 1e6);
  if (scaling == "linear" || scaling == "yarn") {
    if (factor > 0) c.rope_freq_scale = static_cast<float>(1.0 / factor);
    c.rope_yarn = scaling == "yarn";
    c.rope_yarn_orig_ctx = opt_u32(f, p + "rope.scaling.original_context_length", c.n_ctx_train);
    c.rope_yarn_log_mul = opt_float(f, p + "rope.scaling.yarn_log_multiplier", 0.0, 0.0, 100.0);
  } else if (scaling != "none") {
    fail(f, "unsupported rope.scaling.type '" + scaling + "' (supported: none, linear, yarn)");
  }

  c.n_expert = need_u32(f, p + "expert_count");
  c.n_expert_used = need_u32(f, p + "expert_used_count");
  if (c.n_expert_used > c.n_expert)
    fail(f, "expert_used_count " + std::to_string(c.n_expert_used) + " exceeds expert_count " + std::to_string(c.n_expert));
  c.n_ff = opt_u32(f, p + "feed_forward_length", 0);
  // As llama.cpp sizes the expert tensors: llama (Mixtral) and OLMoE use feed_forward_length and
  // ignore expert_feed_forward_length (their converters may write it as 0); Qwen2/3-MoE take
  // n_ff / k when it is 0 or absent; DeepSeek requires it.
  if (c.arch == Arch::mixtral || c.arch == Arch::olmoe) {
    c.n_ff_exp = c.n_ff;
  } else {
    c.n_ff_exp = opt_u32(f, p + "expert_feed_forward_length", 0);
    if (!c.n_ff_exp && c.arch != Arch::deepseek2 && c.n_expert_used) c.n_ff_exp = c.n_ff / c.n_expert_used;
  }
  c.n_expert_shared = opt_u32(f, p + "expert_shared_count", 0);
  c.n_ff_shexp = opt_u32(f, p + "expert_shared_feed_forward_length", 0);
  c.n_layer_dense_lead = opt_u32(f, p + "leading_dense_block_count", 0);
  c.shared_gate = f.find_tensor("blk.0.ffn_gate_inp_shexp.weight") != nullptr;
  if (c.arch == Arch::qwen2moe) {
    if (f.find_tensor("blk.0.ffn_gate_shexp.weight")) c.n_expert_shared = 1;
    if (!c.n_ff_shexp && c.n_expert_shared) {
      const auto* t = f.find_tensor("blk.0.ffn_gate_shexp.weight");
      c.n_ff_shexp = static_cast<uint32_t>(t->shape.size() > 1 ? t->shape[1] : 0);
    }
  }
  if (c.arch == Arch::deepseek2 && c.n_expert_shared && !c.n_ff_shexp) c.n_ff_shexp = c.n_ff_exp * c.n_expert_shared;

  c.qk_norm_per_head = c.arch == Arch::qwen3moe;
  c.qk_norm_full = c.arch == Arch::olmoe;
  c.qkv_bias = c.arch == Arch::qwen2moe && f.find_tensor("blk.0.attn_q.bias") != nullptr;

  RouterConfig& r = c.router;
  r.experts = c.n_expert;
  r.k = c.n_expert_used;
  switch (c.arch) {
    case Arch::qwen3moe: r.gating = Gating::softmax_topk; r.renormalize = true; break;
    case Arch::qwen2moe: case Arch::olmoe: r.gating = Gating::softmax_topk; r.renormalize = false; break;
    case Arch::mixtral: case Arch::gpt_oss: r.gating = Gating::topk_softmax; break;
    case Arch::deepseek2: {
      const uint32_t func = opt_u32(f, p + "expert_gating_func", 1);  // 1 softmax, 2 sigmoid
      r.gating = func == 2 ? Gating::sigmoid_group : Gating::softmax_topk;
      r.renormalize = f.get_bool(p + "expert_weights_norm").value_or(false);
      r.scale = opt_float(f, p + "expert_weights_scale", 1.0, 1e-6, 1e6);
      r.n_group = opt_u32(f, p + "expert_group_count", 1);
      r.topk_group = opt_u32(f, p + "expert_group_used_count", r.n_group);
      if (r.n_group == 0) r.n_group = 1;
      r.group_top2 = func == 2;
      c.q_lora_rank = opt_u32(f, p + "attention.q_lora_rank", 0);
      c.kv_lora_rank = need_u32(f, p + "attention.kv_lora_rank");
      // Files converted for absorbed MLA give the latent widths as key/value_length (576/512)
      // and the per-head widths as *_mla; vkmoe decompresses to per-head keys and values.
      c.head_dim_k = opt_u32(f, p + "attention.key_length_mla", c.head_dim_k);
      c.head_dim_v = opt_u32(f, p + "attention.value_length_mla", c.head_dim_v);
      c.n_head_kv = c.n_head;  // after decompression every query head has its own key and value
      c.qk_rope_dim = c.n_rot;
      if (c.n_rot >= c.head_dim_k || c.n_rot % 2 || c.head_dim_k % 2 || c.head_dim_v % 2)
        fail(f, "MLA head widths: key " + std::to_string(c.head_dim_k) + " with " + std::to_string(c.n_rot) +
                    " rotated dims, value " + std::to_string(c.head_dim_v) + " (all even, rotated < key needed)");
      c.qk_nope_dim = c.head_dim_k - c.n_rot;
      break;
    }
  }
  if (c.n_ff_exp == 0) fail(f, "missing expert_feed_forward_length / feed_forward_length");
  try {
    validate_router(r, GgmlType::F32, 32);
  } catch (const std::exception& e) {
    fail(f, e.what());
  }
  for (uint32_t l = 0; l < c.n_layer; ++l) {
    LayerSpec s;
    s.attention = c.arch == Arch::deepseek2 ? AttentionKind::mla : AttentionKind::gqa;
    s.ffn = l < c.n_layer_dense_lead ? FfnKind::dense : FfnKind::moe;
    s.shared_experts = s.ffn == FfnKind::moe && c.n_expert_shared > 0;
    c.layers.push_back(s);
  }
  if (c.arch == Arch::gpt_oss) configure_gpt_oss(f, c);
  c.bos = static_cast<int32_t>(f.get_int("tokenizer.ggml.bos_token_id").value_or(-1));
  c.eos = static_cast<int32_t>(f.get_int("tokenizer.ggml.eos_token_id").value_or(-1));
  return c;
}

namespace {
// Sinks and the sliding-window pattern: "sliding window 128 on layers 0,2,4,... (12 of 24)".
void describe_layers(std::ostream& o, const ModelConfig& c) {
  std::string swa;
  uint32_t n_swa_layers = 0, n_sinks = 0;
  for (uint32_t l = 0; l < c.layers.size(); ++l) {
    n_sinks += c.layers[l].sinks;
    if (!c.layers[l].window) continue;
    if (n_swa_layers < 8) swa += (n_swa_layers ? "," : "") + std::to_string(l);
    else if (n_swa_layers == 8) swa += ",...";
    ++n_swa_layers;
  }
  if (n_swa_layers)
    o << ", sliding window " << c.n_swa << " on layers " << swa << " (" << n_swa_layers << " of " << c.n_layer
      << "; the rest full)";
  if (n_sinks) o << ", attention sinks" << (n_sinks < c.n_layer ? " (some layers)" : "");
}
}  // namespace

std::string ModelConfig::describe() const {
  std::ostringstream o;
  o << "architecture " << arch_name(arch) << " (" << arch_key << "), " << n_layer << " layers, width " << n_embd
    << ", vocabulary " << n_vocab << "\n";
  o << "attention: " << n_head << " query / " << n_head_kv << " KV heads of " << head_dim_k;
  if (head_dim_v != head_dim_k) o << "/" << head_dim_v;
  o << ", RoPE " << (rope_layout == RopeLayout::neox ? "NeoX" : "normal") << " on " << n_rot << " dims, base "
    << rope_freq_base;
  if (rope_freq_scale != 1.0f) o << ", scale " << rope_freq_scale << (rope_yarn ? " (YaRN)" : " (linear)");
  if (qk_norm_per_head) o << ", per-head QK-norm";
  if (qk_norm_full) o << ", QK-norm";
  if (qkv_bias) o << ", QKV bias";
  if (kv_lora_rank) o << ", MLA (kv rank " << kv_lora_rank << ", q rank " << q_lora_rank << ")";
  if (attn_out_bias) o << ", output bias";
  if (rope_attn_factor != 1.0f) o << ", RoPE attn_factor " << rope_attn_factor;
  describe_layers(o, *this);
  o << "\nexperts: " << n_expert << " of width " << n_ff_exp << ", " << n_expert_used << " per token, gating "
    << gating_name(router.gating) << (router.renormalize ? " renormalised" : "");
  if (router.n_group > 1) o << ", " << router.topk_group << " of " << router.n_group << " groups";
  if (router.scale != 1.0f) o << ", scale " << router.scale;
  if (router_bias) o << ", router bias";
  if (expert_bias) o << ", expert biases";
  if (swiglu_oai) o << ", clamped SwiGLU (alpha " << swiglu_alpha << ", limit " << swiglu_limit << ")";
  if (n_expert_shared) o << "; " << n_expert_shared << " shared expert(s) of width " << n_ff_shexp << (shared_gate ? " (sigmoid-gated)" : "");
  if (n_layer_dense_lead) o << "; " << n_layer_dense_lead << " leading dense layer(s) of width " << n_ff;
  o << "\n";
  return o.str();
}

}  // namespace vkmoe
