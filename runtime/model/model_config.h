// Hyperparameters of a supported MoE architecture, read from GGUF metadata. Every shape below
// uses H = n_embd, Dk = head_dim_k, Dv = head_dim_v.
#pragma once
#include <cstdint>
#include <string>

#include <vector>

#include "runtime/arch/layer_spec.h"
#include "runtime/kernels/router.h"

namespace vkmoe {

class GgufFile;

// Each architecture is one file, runtime/arch/<arch>.cpp, and one line of runtime/arch/registry.cpp
// (its GGUF name, its display name and its hyperparameter reader).
enum class Arch {
  qwen3moe,  // Qwen3-MoE: per-head QK-norm, NeoX RoPE, softmax top-k renormalised
  qwen2moe,  // Qwen1.5/2-MoE: QKV biases, NeoX RoPE, shared expert with a sigmoid gate
  mixtral,   // "llama" with experts: normal RoPE, top-k then softmax
  olmoe,     // OLMoE: QK-norm over the whole q/k vectors, NeoX RoPE, softmax top-k
  deepseek2, // DeepSeek-V2/V3: MLA attention, leading dense layers, shared experts, groups
  glm4moe,   // GLM-4.5: sigmoid routing with selection bias, shared expert, dense lead, partial NeoX RoPE
  deepseek,  // DeepSeek-MoE (v1): GQA, normal RoPE, softmax top-k, shared experts, dense lead
  gpt_oss,   // gpt-oss: sinks, alternating sliding-window layers, biases, clamped SwiGLU
  ernie4_5_moe,  // ERNIE-4.5 MoE: softmax routing by probability + selection bias, shared expert, dense lead
  dots1,     // dots.llm1: per-head QK-norm, sigmoid routing with selection bias, shared experts, dense lead
  granitemoe,  // Granite 3.x MoE: embedding, residual, attention and logit scales
  hunyuan_moe,  // Hunyuan-A13B: per-head QK-norm after RoPE, a shared expert on every layer
  minimax_m2,  // MiniMax-M2: whole-vector QK-norm, partial NeoX RoPE, sigmoid routing with selection bias
  phimoe,    // Phi-3.5-MoE: RMS norms with bias, q/k/v/o and output biases, softmax top-2 renormalised
  dbrx,      // DBRX: LayerNorm without bias, fused attn_qkv clamped, softmax top-k renormalised
  arctic,    // Snowflake Arctic: a dense FFN beside the MoE (which reads the layer's input), normal RoPE
  llama4,    // Llama 4: interleaved MoE/dense, shared expert, top-1 sigmoid on the input, chunked/NoPE layers
  bailingmoe2,  // Ling/Ring 2.0: fused QKV, QK-norm, partial NeoX RoPE, grouped sigmoid routing, shared experts
  grok,      // Grok-1: multipliers, attention and final softcaps, post-attention/FFN norms, GELU experts
};
const char* arch_name(Arch a);  // display name (registry.cpp)

enum class RopeLayout { normal, neox };  // normal: pairs (2i, 2i+1); neox: pairs (i, i + n_rot/2)

struct ModelConfig {
  Arch arch = Arch::qwen3moe;
  std::string arch_key;       // general.architecture as written in the file
  std::string name;           // general.name

  uint32_t n_vocab = 0;       // rows of token_embd [H, n_vocab] and output [H, n_vocab]
  uint32_t n_embd = 0;        // H: width of the residual stream
  uint32_t n_layer = 0;       // transformer blocks
  uint32_t n_ctx_train = 0;   // context length the model was trained with
  uint32_t n_head = 0;        // query heads: attn_q is [H, n_head * Dk]
  // As the file gives them (attention.head_count_kv, key_length, value_length). For MLA these
  // may describe the latent (absorbed) form; attention_shape() gives what vkmoe computes.
  uint32_t n_head_kv = 0;     // key/value heads: attn_k [H, n_head_kv * Dk], attn_v [H, n_head_kv * Dv]
  uint32_t head_dim_k = 0;    // Dk: per-head query/key width
  uint32_t head_dim_v = 0;    // Dv: per-head value width; attn_output is [n_head * Dv, H]
  float norm_eps = 1e-6f;     // RMSNorm epsilon
  float attn_scale = 0.0f;    // on q.k; 0: 1 / sqrt(Dk) (DeepSeek-MoE's attention.scale)

  RopeLayout rope_layout = RopeLayout::neox;
  uint32_t n_rot = 0;         // rotated dims per head (<= Dk)
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // 1 / rope.scaling.factor for linear or YaRN scaling
  bool rope_yarn = false;        // YaRN scaling from rope.scaling.type
  uint32_t rope_yarn_orig_ctx = 0;
  float rope_yarn_log_mul = 0.0f;  // DeepSeek's rope.scaling.yarn_log_multiplier
  float rope_attn_factor = 1.0f;   // rope.scaling.attn_factor: scales cos/sin (llama.cpp's rope_attn_factor)

  bool qk_norm_per_head = false;  // attn_q_norm [Dk], attn_k_norm [Dk] (Qwen3)
  bool qk_norm_full = false;      // attn_q_norm [n_head*Dk], attn_k_norm [n_head_kv*Dk] (OLMoE)
  bool qkv_bias = false;          // attn_q/k/v.bias (Qwen2-MoE, GLM-4.5, gpt-oss)
  std::string ffn_norm = "ffn_norm";  // the FFN's pre-norm tensor per layer (GLM-4.5, gpt-oss: post_attention_norm)
  bool attn_out_bias = false;     // attn_output.bias [H], added with the output projection (gpt-oss)
  uint32_t n_swa = 0;             // sliding window of the layers whose LayerSpec::window is set

  uint32_t n_expert = 0;        // E: routed experts per MoE layer
  uint32_t n_expert_used = 0;   // k: experts per token
  uint32_t n_ff_exp = 0;        // F: ffn_gate_exps/ffn_up_exps [H, F, E], ffn_down_exps [F, H, E]
  uint32_t n_expert_shared = 0; // shared experts (DeepSeek: count; Qwen2-MoE: 1)
  uint32_t n_ff_shexp = 0;      // shared expert width: ffn_*_shexp [H, n_ff_shexp] / [n_ff_shexp, H]
  bool shared_gate = false;     // ffn_gate_inp_shexp [H]: sigmoid-gated shared expert (Qwen2-MoE)
  uint32_t n_layer_dense_lead = 0;  // leading layers with a dense FFN (DeepSeek, GLM-4.5)
  // Blocks after the n_layer that run: GLM-4.5's NextN (multi-token prediction) layers, which
  // llama.cpp loads but skips in the forward pass; block_count = n_layer + n_layer_nextn.
  uint32_t n_layer_nextn = 0;
  uint32_t n_ff = 0;            // dense FFN width: ffn_gate/ffn_up [H, n_ff], ffn_down [n_ff, H]
  RouterConfig router;          // gating scheme for the routed experts
  bool router_bias = false;     // ffn_gate_inp.bias [E] added to the router logits (gpt-oss)
  bool expert_bias = false;     // ffn_{gate,up}_exps.bias [F, E], ffn_down_exps.bias [H, E] (gpt-oss)
  bool swiglu_oai = false;      // gpt-oss's clamped SwiGLU (llama.cpp's swiglu_oai) between gate/up and down
  float swiglu_alpha = 1.702f, swiglu_limit = 7.0f;

  // DeepSeek-V2/V3 multi-head latent attention (0 where unused).
  uint32_t q_lora_rank = 0;     // attn_q_a [H, q_lora_rank]; 0: attn_q is a plain projection
  uint32_t kv_lora_rank = 0;    // attn_kv_a_mqa [H, kv_lora_rank + rope dims]
  uint32_t qk_rope_dim = 0;     // rotated part of each query/key head
  uint32_t qk_nope_dim = 0;     // unrotated part: per-head key = qk_nope_dim + qk_rope_dim
  uint32_t v_head_dim = 0;      // per-head value width (value_length_mla, or value_length)

  // llama4 (LayerSpec::attn_temp layers): q *= log(floor((pos + offset) / floor) + 1) * scale + 1.
  float attn_temp_scale = 0.0f, attn_temp_offset = 1.0f;
  uint32_t attn_temp_floor = 0;
  bool moe_weight_input = false;  // the routed weight scales each expert's input, not its output (llama4)
  uint32_t n_moe_layer_step = 0;  // llama4: layer l is MoE when (l + 1) % step == 0, else dense
  bool rope_freqs = false;        // rope_freqs.weight [n_rot / 2] divides each pair's angle (llama4, optional)

  std::vector<LayerSpec> layers;  // [n_layer]: each layer's attention and FFN kinds

  // Softmax routing with exp_probs_b, chosen by probability + bias (ERNIE-4.5; dots1 and
  // MiniMax-M2 with expert_gating_func 1): for `vkmoe inspect`, the router reads the tensor.
  bool softmax_selection_bias = false;
  // Scales, 0 where unused: embeddings x embedding_scale (Granite, Grok); each block's attention
  // output x residual_scale (Granite; its FFN's rides on router.scale); logits x logit_scale
  // (Grok's key; Granite's is 1 / its key, which llama.cpp divides by), folded into the output norm.
  float embedding_scale = 0.0f, residual_scale = 0.0f, logit_scale = 0.0f;
  bool qk_norm_after_rope = false;  // Hunyuan-MoE: the QK-norm applies to the rotated q and k

  int32_t bos = -1, eos = -1;

  // The block norms (attn_norm, the FFN norm, output_norm) beyond plain RMSNorm; either one
  // runs them as their own dispatch instead of folded into the next matvec or the router.
  bool norm_bias = false;    // <norm>.bias [H] added after the weight (phimoe)
  bool layer_norm = false;   // LayerNorm: the mean subtracted first (dbrx)
  bool output_bias = false;  // output.bias [n_vocab] added to the logits (phimoe)
  float clamp_kqv = 0.0f;    // > 0: q, k, v clamped to [-clamp_kqv, clamp_kqv] after any bias (dbrx)
  // Grok: multipliers and caps (0 = none), norms of the attention's and the FFN's outputs before
  // the residual add (attn_output_norm, ffn_post_norm's tensor; off / empty = none), GELU experts.
  float attn_softcap = 0.0f;     // attention scores s (after attn_scale) become cap * tanh(s / cap)
  float final_softcap = 0.0f;    // then logits become cap * tanh(logit / cap)
  bool attn_post_norm = false;   // attn_output_norm [H]: RMS norm of the attention output
  std::string ffn_post_norm;     // its tensor's name (layer_output_norm / post_ffw_norm): RMS norm of the FFN output
  bool gelu_experts = false;     // gelu(gate) * up in the experts (tanh approximation)
  // LongRoPE (phimoe): rope_factors_long / rope_factors_short [n_rot / 2], per-pair factors like
  // rope_freqs; the long ones when the context exceeds rope_yarn_orig_ctx (rope_factors_tensor).
  bool rope_factors_long = false, rope_factors_short = false;
  // YaRN's ramp (llama.cpp's yarn_ext_factor / beta_fast / beta_slow; Grok-2 sets its own).
  float rope_yarn_ext_factor = 1.0f, rope_yarn_beta_fast = 32.0f, rope_yarn_beta_slow = 1.0f;

  // The attention vkmoe computes and caches: the file's heads for GQA; for MLA, decompressed
  // to n_head heads of (nope + rope) keys and v_head_dim values.
  struct AttentionShape {
    uint32_t n_head = 0, n_head_kv = 0, head_dim_k = 0, head_dim_v = 0;
  };
  AttentionShape attention_shape() const;
  // A tensor of a block after n_layer (NextN): in the file, never uploaded nor run.
  bool skipped_tensor(const std::string& name) const;

  std::string describe() const;  // one paragraph for `vkmoe inspect`
  std::string routing_kind() const;  // how experts are chosen and weighted, in words
};

// Throws a GgufError-style message naming the file for an unsupported architecture or a
// missing or impossible hyperparameter.
ModelConfig load_model_config(const GgufFile& file);

}  // namespace vkmoe
