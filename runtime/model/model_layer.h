// Every weight of one transformer block, as the kernels bind it. Private to runtime/model:
// model.cpp binds and records the common architectures, deepseek2.cpp DeepSeek's MLA and dense
// leading layers.
#pragma once
#include "runtime/model/model.h"

namespace vkmoe {

struct Model::Layer {
  BufferRange attn_norm, ffn_norm;
  DenseWeight wqkv;                // rows q | k | v concatenated at load (one matvec), when they share a type
  DenseWeight wq, wk, wv, wo;      // wq/wk/wv only without wqkv; deepseek2: wq is attn_q without q_lora (V2-Lite)
  BufferRange bqkv;                // Qwen2-MoE biases [q | k | v], else empty
  BufferRange qk_norm;             // [q_norm | k_norm]: Qwen3 (per head) / OLMoE (whole vector), else empty
  RouterWeights router;
  MoeFfnWeights experts;
  bool shared = false;
  MoeFfnWeights shared_experts;    // experts == 1
  bool shared_in_slot = false;     // shared experts ride as one more slot of the routed decode pair
  KvCacheLayer kv;
  BufferRange bo;                  // attn_output.bias [H] (gpt-oss), else empty
  BufferRange sinks;               // attn_sinks [n_head] (gpt-oss), else empty

  // DeepSeek-V2/V3 multi-head latent attention.
  DenseWeight wq_a, wq_b;          // q_lora_rank > 0: attn_q_a [H -> q_lora], attn_q_b [q_lora -> n_head * Dk]
  BufferRange q_a_norm, kv_a_norm;
  DenseWeight wkv_a, wkv_b;        // attn_kv_a_mqa [H -> kv_lora + rope], attn_kv_b [kv_lora -> n_head * (nope + Dv)]
  DenseWeight wq_kv_a;             // [wq or wq_a | wkv_a] concatenated at load (one matvec), when they share a type
  bool grok_dense = false;         // Grok-2: a dense GELU FFN beside the MoE (LayerSpec::grok_dense)
  bool dense_ffn = false;          // a leading dense layer: ffn_gate/up/down instead of experts
  DenseWeight ffn_gate, ffn_up, ffn_down;
  DenseWeight ffn_gate_up;         // [gate | up] concatenated at load, when they share a type
  BufferRange attn_norm_b, ffn_norm_b;  // the block norms' biases (phimoe), else empty
  bool parallel = false;           // arctic: the dense FFN (ffn_gate/up/down) runs beside the MoE
  BufferRange attn_post_norm, ffn_post_norm;  // grok: norms of the attention's and the FFN's outputs, else empty
};

}  // namespace vkmoe
