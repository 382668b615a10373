// Push constants of the router (scoring + expert selection). See params_common.h.
#ifndef VKMOE_ROUTER_PARAMS_H
#define VKMOE_ROUTER_PARAMS_H
#include "params_common.h"

// Gating codes (the `gating` field). Switch-style top-1 is GATING_SOFTMAX_TOPK with k = 1.
#define GATING_SOFTMAX_TOPK 0  // softmax over all experts, top-k, optional renormalisation
#define GATING_TOPK_SOFTMAX 1  // top-k of the logits, softmax over those k (Mixtral)
#define GATING_SIGMOID 2       // sigmoid scores + selection bias, group-limited (DeepSeek-V3)
#define GATING_THRESHOLD 3     // softmax; every expert with p >= threshold, at most k

// Flag bits (the `flags` field).
#define ROUTER_RENORM 1u        // divide the k weights by their sum
#define ROUTER_WRITE_LOGITS 2u  // store raw logits [T, E]
#define ROUTER_COUNT 4u         // add per-expert token counts into counts[E]
#define ROUTER_SHARED_GATE 8u   // shared_gate[t] = sigmoid(w_shared . x_t)
#define ROUTER_BIAS 16u         // add bias[e] to selection scores (never to weights)
#define ROUTER_GROUP_TOP2 32u   // group score = sum of the group's top 2 (else its max)
#define ROUTER_NORM 64u         // x is RMS-normalized first (norm weight, eps) and written out
#define ROUTER_LOGIT_BIAS 128u  // add logit_bias[e] to the logits themselves (gpt-oss's ffn_gate_inp.bias)
#define ROUTER_NORM_CENTER 256u  // with ROUTER_NORM: a LayerNorm (the mean subtracted first)
#define ROUTER_NORM_BIAS 512u    // with ROUTER_NORM: + norm_b after the weight
#define ROUTER_POST 1024u        // with ROUTER_NORM: x += rms_norm(y) * post_w first, written back

// An empty selection slot (threshold routing, or fewer candidates than k).
#define ROUTER_EMPTY_SLOT 0xFFFFFFFFu

#define ROUTER_MAX_EXPERTS 256
#define ROUTER_MAX_K 16
#define ROUTER_MAX_GROUPS 64

#ifdef __cplusplus
namespace vkmoe {
#endif

#if defined(__cplusplus) || defined(USE_ROUTER_PARAMS)
VKMOE_PARAMS(RouterParams) {
  uint tokens;      // T: rows of x
  uint hidden;      // H: row length of x and of the router weights
  uint experts;     // E <= ROUTER_MAX_EXPERTS
  uint k;           // experts per token <= ROUTER_MAX_K
  uint gating;      // GATING_*
  uint flags;       // ROUTER_* bits
  uint n_group;     // expert groups for group-limited selection (1 = none)
  uint topk_group;  // groups kept
  float scale;      // multiplies the final weights (DeepSeek's routed_scaling_factor; 1 = none)
  float threshold;  // GATING_THRESHOLD's minimum probability
  uint x_stride;    // floats between rows of x
  float eps;        // ROUTER_NORM
} VKMOE_PARAMS_END(RouterParams, 48);
#endif

#ifdef __cplusplus
}  // namespace vkmoe
#endif
#endif
