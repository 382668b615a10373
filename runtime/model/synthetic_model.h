// Writes small MoE models of the supported architectures with deterministic pseudo-random
// weights and a real byte-level BPE tokenizer: for tests of every architecture, and for the
// built-in demo model.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "runtime/gguf/gguf_writer.h"
#include "runtime/model/model_config.h"

namespace vkmoe {

struct SyntheticSpec {
  Arch arch = Arch::qwen3moe;
  std::string name = "vkmoe-synthetic";
  uint32_t n_embd = 64;         // H
  uint32_t n_layer = 2;
  uint32_t n_head = 4;
  uint32_t n_head_kv = 2;
  uint32_t head_dim = 16;       // Dk = Dv
  uint32_t n_expert = 8;
  uint32_t n_expert_used = 2;
  uint32_t n_ff_exp = 64;       // F
  uint32_t n_ff_shexp = 64;     // shared expert width (qwen2moe)
  uint32_t n_vocab = 320;       // >= 259: 256 bytes, 3 specials, then learned merges
  GgmlType matrix_type = GgmlType::F32;  // attention, experts, embedding and output matrices
  int attn_v_type = -1;         // >= 0: attn_v's own GgmlType (q, k and v of different types)
  int shexp_down_type = -1;     // >= 0: ffn_down_shexp's own GgmlType (shared and routed experts differ)
  // Matrices whose names end with a suffix here get its type (the first match), e.g.
  // {"ffn_up_exps.weight", Q6_K}: gate, up and down of different types.
  std::vector<std::pair<std::string, GgmlType>> tensor_types;
  // Encodes a matrix in a type that has no reference quantizer (the IQ grid types); tests supply
  // one. Without it such a type throws.
  std::function<std::vector<uint8_t>(GgmlType, std::span<const float>)> encode;
  // deepseek2 (head_dim and n_head_kv are unused there): MLA widths, dense lead layers,
  // shared experts and the router scheme; glm4moe and deepseek (v1) use the dense lead layers,
  // n_ff, the shared experts and routed_scale too. The defaults give the V2-Lite form; deepseek_v3_form()
  // switches to V3's.
  uint32_t q_lora_rank = 0;      // 0: attn_q (V2-Lite); else attn_q_a -> attn_q_a_norm -> attn_q_b
  uint32_t kv_lora_rank = 32;
  uint32_t qk_nope_dim = 16;
  uint32_t qk_rope_dim = 8;      // Dk = nope + rope
  uint32_t v_head_dim = 12;      // Dv != Dk on purpose
  uint32_t n_layer_dense_lead = 1;
  uint32_t n_ff = 96;            // the dense layers' FFN width
  uint32_t n_expert_shared = 2;  // shared experts of n_ff_exp each
  bool sigmoid_gating = false;   // V3: sigmoid gate, exp_probs_b selection bias, renormalised
  uint32_t n_group = 1, topk_group = 1;
  float routed_scale = 1.0f;     // expert_weights_scale
  uint32_t n_nextn = 0;          // glm4moe: NextN blocks after the n_layer that run
  float yarn_factor = 0.0f;      // > 0: YaRN metadata with this factor and yarn_log_multiplier 0.1
  bool split_kv_b = false;       // attn_k_b / attn_v_b instead of attn_kv_b (the same weights)
  float rope_freq_base = 10000.0f;
  uint32_t sliding_window = 8;   // gpt-oss: attention.sliding_window (even layers slide)
  uint32_t moe_layer_step = 2;   // llama4: interleave_moe_layer_step (the others dense, of n_ff)
  uint64_t seed = 1;
  std::string corpus;           // text the BPE merges are learned from (a built-in one if empty)
  // phimoe: LongRoPE's rope_factors_long (about 2) and rope_factors_short (about 1.3), original
  // context length 16 (a context above it takes the long ones) and attn_factor 1.2.
  bool longrope = false;
  // grok: Grok-2's form: a dense GELU FFN (of expert width) beside the MoE; YaRN factor 4 over
  // an original context of 256 with yarn_ext_factor 0.8, beta_fast 8, beta_slow 1; an attention
  // temperature length (which llama.cpp reads and does not use).
  bool grok2 = false;
};

// The file in memory; write it with GgufWriter::write.
GgufWriter make_synthetic_model(const SyntheticSpec& spec);

// spec switched to DeepSeek-V3's form: q_lora, sigmoid gating with selection bias, expert groups,
// a routed scale and YaRN.
SyntheticSpec deepseek_v3_form(SyntheticSpec spec);

// Deterministic generator, identical on every platform (no std:: distributions).
class SplitMix {
 public:
  explicit SplitMix(uint64_t seed) : s_(seed) {}
  uint64_t next();
  float uniform(float lo, float hi);  // [lo, hi)
  float normal();                     // Box-Muller

 private:
  uint64_t s_;
};

}  // namespace vkmoe
