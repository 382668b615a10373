// The MoE router on the GPU: scores every token against every expert and selects experts by
// the model's gating scheme, in one dispatch (one workgroup per token).
#pragma once
#include <cstdint>
#include <string>

#include "runtime/quant/ggml_type.h"
#include "runtime/vk/memory.h"

namespace vkmoe {

class Context;
class Sequence;

enum class Gating {
  softmax_topk,   // softmax over all experts, top-k (Qwen2/Qwen3-MoE, OLMoE; DeepSeek-V2)
  topk_softmax,   // top-k logits, softmax over the k (Mixtral)
  sigmoid_group,  // sigmoid + selection bias, group-limited (DeepSeek-V3)
  top1,           // Switch Transformer: the best expert, weight = its probability
  threshold,      // every expert with probability >= threshold, at most k
};
const char* gating_name(Gating g);

struct RouterConfig {
  Gating gating = Gating::softmax_topk;
  uint32_t experts = 0;       // E <= 256
  uint32_t k = 0;             // experts per token, 1..16 (top1 forces 1)
  bool renormalize = false;   // divide the k weights by their sum
  uint32_t n_group = 1;       // group-limited selection: groups of E / n_group experts
  uint32_t topk_group = 1;    // groups kept
  bool group_top2 = true;     // group score: sum of its top 2 (DeepSeek-V3) or its max (V2)
  float scale = 1.0f;         // routed scaling factor applied to the final weights
  float threshold = 0.0f;     // for Gating::threshold
};

struct RouterWeights {
  GgmlType type = GgmlType::F32;  // F32, F16, BF16 or Q8_0: never below 8 bits
  BufferRange w;                  // [E, H]
  BufferRange bias;               // [E] float selection bias, or empty
  GgmlType shared_type = GgmlType::F32;
  BufferRange shared_gate_w;      // [H] Qwen2-MoE shared-expert gate, or empty
  // FFN norm folded into the router: when set, x is RMS-normalized first (x / sqrt(mean(x^2) +
  // norm_eps) * norm), the router scores the normalized x and writes it to out.x_norm for the
  // experts, so "norm + router" is one dispatch.
  BufferRange norm;               // [H] float, or empty
  float norm_eps = 1e-6f;
  BufferRange norm_bias;          // [H] float added after the norm weight (phimoe), or empty
  bool norm_center = false;       // a LayerNorm: the mean subtracted first (dbrx)
  // With norm: x += rms_norm(RouterOutputs::branch) * post_norm first (Grok's attention output
  // norm and residual add), written back into x; the FFN norm then reads the updated x.
  BufferRange post_norm;          // [H] float, or empty
  BufferRange logit_bias;         // [E] float added to the logits themselves (gpt-oss), or empty
};

struct RouterOutputs {
  BufferRange ids;          // uint32 [T, k]; 0xFFFFFFFF marks an empty slot
  BufferRange weights;      // float [T, k]
  BufferRange logits;       // float [T, E] raw logits, or empty
  BufferRange counts;       // uint32 [E] tokens per expert, added to, or empty
  BufferRange shared_gate;  // float [T] sigmoid(shared_gate_w . x), or empty
  BufferRange x_norm;       // float [T, H] normalized x; required with RouterWeights::norm
  BufferRange branch;       // float [T, H] read (not written) with RouterWeights::post_norm; x is updated
};

// Throws std::invalid_argument naming what is out of range.
void validate_router(const RouterConfig& cfg, GgmlType type, uint32_t hidden);

void record_router(Context& ctx, Sequence& seq, const RouterConfig& cfg, const RouterWeights& w,
                   uint32_t tokens, uint32_t hidden, BufferRange x, const RouterOutputs& out,
                   const std::string& variant = "");

}  // namespace vkmoe
