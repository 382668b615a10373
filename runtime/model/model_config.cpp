#include "runtime/model/model_config.h"

#include <cmath>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

#include "runtime/arch/hparams.h"
#include "runtime/arch/registry.h"
#include "runtime/gguf/gguf_reader.h"

namespace vkmoe {

namespace {

[[noreturn]] void fail(const GgufFile& f, const std::string& what) {
  throw std::runtime_error(f.name() + ": " + what);
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

// The keys every architecture shares, with llama.cpp's meaning and defaults.
void read_common(const Hparams& h, ModelConfig& c) {
  const GgufFile& f = h.file();
  const GgufTensorInfo* embd = f.find_tensor("token_embd.weight");
  if (!embd || embd->shape.size() != 2) h.fail("tensor 'token_embd.weight' is missing or not 2-D");
  c.n_embd = h.need_u32("embedding_length");
  if (embd->shape[0] != c.n_embd)
    h.fail("token_embd.weight has rows of " + std::to_string(embd->shape[0]) + ", expected embedding_length " +
           std::to_string(c.n_embd));
  c.n_vocab = static_cast<uint32_t>(embd->shape[1]);
  c.n_layer = h.need_u32("block_count");
  c.n_ctx_train = h.opt_u32("context_length", 4096);
  c.n_head = h.need_u32("attention.head_count");
  c.n_head_kv = h.opt_u32("attention.head_count_kv", c.n_head);
  if (!c.n_head_kv || c.n_head % c.n_head_kv)
    h.fail("head_count " + std::to_string(c.n_head) + " is not a multiple of head_count_kv " + std::to_string(c.n_head_kv));
  c.head_dim_k = h.opt_u32("attention.key_length", c.n_embd / c.n_head);
  c.head_dim_v = h.opt_u32("attention.value_length", c.head_dim_k);
  c.norm_eps = h.opt_float("attention.layer_norm_rms_epsilon", 1e-6, 1e-12, 1.0);

  c.n_rot = h.opt_u32("rope.dimension_count", c.head_dim_k);
  c.rope_freq_base = h.opt_float("rope.freq_base", 10000.0, 1.0, 1e12);
  const std::string scaling(f.get_string(h.prefix() + "rope.scaling.type").value_or("none"));
  const double factor = h.opt_float("rope.scaling.factor", 0.0, 0.0, 1e6);
  if (scaling == "linear" || scaling == "yarn") {
    if (factor > 0) c.rope_freq_scale = static_cast<float>(1.0 / factor);
    c.rope_yarn = scaling == "yarn";
    c.rope_yarn_orig_ctx = h.opt_u32("rope.scaling.original_context_length", c.n_ctx_train);
    c.rope_yarn_log_mul = h.opt_float("rope.scaling.yarn_log_multiplier", 0.0, 0.0, 100.0);
  } else if (scaling != "none") {
    h.fail("unsupported rope.scaling.type '" + scaling + "' (supported: none, linear, yarn)");
  }
  // Every architecture: llama.cpp multiplies RoPE's attn_factor by it (cparams.yarn_attn_factor).
  c.rope_attn_factor = h.opt_float("rope.scaling.attn_factor", 1.0, 1e-6, 100.0);
  // Required, but read as 0 here so that an architecture can say why it has none (a dense llama).
  c.n_expert = h.opt_u32("expert_count", 0);
  c.n_expert_used = h.opt_u32("expert_used_count", 0);
  c.n_ff = h.opt_u32("feed_forward_length", 0);
}

// What every architecture's result must satisfy.
void check_config(const Hparams& h, ModelConfig& c) {
  c.n_expert = h.need_u32("expert_count");
  c.n_expert_used = h.need_u32("expert_used_count");
  if (c.n_expert_used > c.n_expert)
    h.fail("expert_used_count " + std::to_string(c.n_expert_used) + " exceeds expert_count " + std::to_string(c.n_expert));
  if (c.n_ff_exp == 0) h.fail("missing expert_feed_forward_length / feed_forward_length");
  c.router.experts = c.n_expert;
  c.router.k = c.n_expert_used;
  try {
    validate_router(c.router, GgmlType::F32, 32);
  } catch (const std::exception& e) {
    h.fail(e.what());
  }
  if (c.layers.size() != c.n_layer) h.fail("internal: the architecture gave " + std::to_string(c.layers.size()) + " layers");
  bool dense = false;
  for (const LayerSpec& s : c.layers) dense |= s.ffn == FfnKind::dense;
  if (dense && c.n_ff == 0)
    h.fail(std::to_string(c.n_layer_dense_lead) + " leading dense layers but no feed_forward_length");
}

}  // namespace

ModelConfig load_model_config(const GgufFile& f) {
  check_floats_finite(f);
  ModelConfig c;
  c.arch_key = std::string(f.architecture());
  c.name = std::string(f.get_string("general.name").value_or(""));
  const ArchInfo* info = find_arch(c.arch_key);
  if (!info) fail(f, "unsupported architecture '" + c.arch_key + "'; supported: " + supported_architectures());
  c.arch = info->arch;
  const Hparams h(f, c.arch_key + ".");
  read_common(h, c);
  info->read(h, c);
  check_config(h, c);
  c.bos = static_cast<int32_t>(f.get_int("tokenizer.ggml.bos_token_id").value_or(-1));
  c.eos = static_cast<int32_t>(f.get_int("tokenizer.ggml.eos_token_id").value_or(-1));
  return c;
}

namespace {
// llama4's NoPE layers (with the attention temperature), L2 QK-norm and interleaved MoE layers.
void describe_llama4_layers(std::ostream& o, const ModelConfig& c) {
  std::string nope;
  uint32_t n_nope = 0, n_l2 = 0;
  for (uint32_t l = 0; l < c.layers.size(); ++l) {
    n_l2 += c.layers[l].qk_l2_norm;
    if (c.layers[l].rope) continue;
    if (n_nope < 8) nope += (n_nope ? "," : "") + std::to_string(l);
    ++n_nope;
  }
  if (n_nope) o << ", no RoPE on layers " << nope << (n_nope > 8 ? ",..." : "") << (c.attn_temp_floor ? " (attention temperature)" : "");
  if (n_l2) o << ", L2 QK-norm on the RoPE layers";
}
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
  const bool chunked = n_swa_layers && c.layers[0].chunked;
  if (n_swa_layers)
    o << (chunked ? ", attention in chunks of " : ", sliding window ") << c.n_swa << " on layers " << swa << " ("
      << n_swa_layers << " of " << c.n_layer << "; the rest full)";
  if (n_sinks) o << ", attention sinks" << (n_sinks < c.n_layer ? " (some layers)" : "");
  describe_llama4_layers(o, c);
}
}  // namespace
bool ModelConfig::skipped_tensor(const std::string& t) const {
  if (!n_layer_nextn || t.rfind("blk.", 0) != 0) return false;
  const unsigned long l = std::strtoul(t.c_str() + 4, nullptr, 10);
  return l >= n_layer && l < n_layer + n_layer_nextn;
}

ModelConfig::AttentionShape ModelConfig::attention_shape() const {
  if (kv_lora_rank) return {n_head, n_head, qk_nope_dim + qk_rope_dim, v_head_dim};
  return {n_head, n_head_kv, head_dim_k, head_dim_v};
}

std::string ModelConfig::describe() const {
  std::ostringstream o;
  o << "architecture " << arch_name(arch) << " (" << arch_key << "), " << n_layer << " layers, width " << n_embd
    << ", vocabulary " << n_vocab << "\n";
  o << "attention: " << n_head << " query / " << n_head_kv << " KV heads of " << head_dim_k;
  if (head_dim_v != head_dim_k) o << "/" << head_dim_v;
  o << ", RoPE " << (rope_layout == RopeLayout::neox ? "NeoX" : "normal") << " on " << n_rot << " dims";
  if (!kv_lora_rank && n_rot < head_dim_k) o << " (partial: " << n_rot << " of " << head_dim_k << ")";
  o << ", base " << rope_freq_base;
  if (rope_freq_scale != 1.0f) o << ", scale " << rope_freq_scale << (rope_yarn ? " (YaRN)" : " (linear)");
  if (rope_yarn && (rope_yarn_ext_factor != 1.0f || rope_yarn_beta_fast != 32.0f || rope_yarn_beta_slow != 1.0f))
    o << " (ext_factor " << rope_yarn_ext_factor << ", beta_fast " << rope_yarn_beta_fast << ", beta_slow " << rope_yarn_beta_slow << ")";
  if (rope_freqs) o << ", frequency factors (rope_freqs)";
  if (rope_factors_long || rope_factors_short)
    o << ", LongRoPE factors (long for a context above " << rope_yarn_orig_ctx << ", else short)";
  if (qk_norm_per_head) o << ", per-head QK-norm";
  if (qk_norm_full) o << ", QK-norm";
  if (qk_norm_after_rope) o << " (after RoPE)";
  if (qkv_bias) o << ", QKV bias";
  if (attn_scale) o << ", scale " << attn_scale;
  if (kv_lora_rank) {
    const AttentionShape a = attention_shape();
    o << ", MLA (kv rank " << kv_lora_rank << ", q rank " << q_lora_rank << "; run as " << a.n_head << " heads of "
      << a.head_dim_k << "/" << a.head_dim_v << ")";
  }
  if (attn_out_bias) o << ", output bias";
  if (rope_attn_factor != 1.0f) o << ", RoPE attn_factor " << rope_attn_factor;
  describe_layers(o, *this);
  if (layer_norm || norm_bias) o << (layer_norm ? ", LayerNorm" : ", RMSNorm") << (norm_bias ? " with bias" : "") << " norms";
  if (output_bias) o << ", output head bias";
  if (clamp_kqv > 0) o << ", q/k/v clamped to +-" << clamp_kqv;
  if (attn_softcap > 0) o << ", attention softcap " << attn_softcap;
  if (attn_post_norm || !ffn_post_norm.empty()) o << ", post-attention/FFN norms";
  if (final_softcap > 0) o << ", final softcap " << final_softcap;
  if (gelu_experts) o << ", GELU experts";
  o << "\nexperts: " << n_expert << " of width " << n_ff_exp << ", " << n_expert_used << " per token, routing "
    << routing_kind() << (router.renormalize ? ", renormalised" : "");
  if (router.n_group > 1) o << ", " << router.topk_group << " of " << router.n_group << " groups";
  if (router.scale != 1.0f) o << ", scaled by " << router.scale;
  if (router_bias) o << ", router bias";
  if (expert_bias) o << ", expert biases";
  if (swiglu_oai) o << ", clamped SwiGLU (alpha " << swiglu_alpha << ", limit " << swiglu_limit << ")";
  if (moe_weight_input) o << ", weight applied to the expert's input";
  if (n_expert_shared) o << "; " << n_expert_shared << " shared expert(s) of width " << n_ff_shexp << (shared_gate ? " (sigmoid-gated)" : "");
  if (n_layer_dense_lead) o << "; " << n_layer_dense_lead << " leading dense layer(s) of width " << n_ff;
  if (embedding_scale) o << "; embeddings x " << embedding_scale;
  if (residual_scale) o << "; residual branches x " << residual_scale;
  if (logit_scale) o << "; logits x " << logit_scale;
  if (n_moe_layer_step) o << "; MoE on every " << n_moe_layer_step << " layer(s), dense FFN of width " << n_ff << " elsewhere";
  if (n_layer_nextn) o << "; " << n_layer_nextn << " NextN layer(s) in the file, not run (as llama.cpp)";
  if (!layers.empty() && layers.back().parallel_dense) o << "; a dense FFN of width " << n_ff << " beside the MoE";
  if (!layers.empty() && layers.back().grok_dense)
    o << "; a dense GELU FFN of width " << n_ff << " beside the MoE, (dense + MoE) / sqrt(2)";
  o << "\n";
  return o.str();
}

std::string ModelConfig::routing_kind() const {
  switch (router.gating) {
    case Gating::softmax_topk:
      return softmax_selection_bias ? "softmax, then top-k by probability + selection bias (exp_probs_b)" : "softmax, then top-k";
    case Gating::topk_softmax: return "top-k logits, then softmax";
    case Gating::sigmoid_group: return "sigmoid, top-k by score + selection bias (exp_probs_b)";
    case Gating::top1: return "top-1";
    case Gating::threshold: return "threshold";
  }
  return gating_name(router.gating);
}

}  // namespace vkmoe
