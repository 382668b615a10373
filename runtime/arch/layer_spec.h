// What one transformer layer is made of, as its architecture file says (runtime/arch/<arch>.cpp).
// The forward pass, the CPU reference and the memory plan read this list, never the
// architecture's name: adding an architecture adds a file that fills it.
#pragma once
#include <cstdint>

namespace vkmoe {

enum class AttentionKind {
  gqa,  // grouped-query attention: attn_q/k/v (or attn_qkv), attn_output
  mla,  // DeepSeek-V2/V3 multi-head latent attention
};

enum class FfnKind {
  dense,  // ffn_gate/ffn_up/ffn_down of width n_ff
  moe,    // routed experts ffn_*_exps (+ shared experts when LayerSpec::shared_experts)
};

struct LayerSpec {
  AttentionKind attention = AttentionKind::gqa;
  FfnKind ffn = FfnKind::moe;
  bool shared_experts = false;  // ffn_*_shexp beside the routed experts (MoE layers only)
  // Sliding-window attention: a query at position p sees keys p - window + 1 .. p (llama.cpp's
  // LLAMA_SWA_TYPE_STANDARD); 0 = the whole context.
  uint32_t window = 0;
  bool sinks = false;           // attn_sinks [n_head]: a per-head logit in the softmax denominator (gpt-oss)
  // Arctic: a dense FFN (ffn_gate/up/down of width n_ff, after ffn_norm) in the residual beside
  // the MoE, whose router and experts read the layer's input normed by ffn_norm_exps.
  bool parallel_dense = false;
  // llama4: window is a chunk (LLAMA_SWA_TYPE_CHUNKED): position p sees keys floor(p / window) *
  // window .. p; no RoPE on some layers; there, q scaled by ModelConfig's attention temperature;
  // elsewhere the weightless per-head RMS norm of q and k (after RoPE: it commutes with it).
  bool chunked = false;
  bool rope = true;
  bool attn_temp = false;
  bool qk_l2_norm = false;
  // Grok-2: a dense GELU FFN (ffn_gate/up/down of width n_ff) on ffn_norm's output beside the
  // MoE; (dense + MoE) / sqrt(2) before the FFN's output norm.
  bool grok_dense = false;
};

}  // namespace vkmoe
