#version 450
// MoE router: logits = W_router . x_t for every expert, then expert selection by one of the
// gating schemes in router_params.h, in one dispatch with one workgroup per token.
//
// Non-finite logits have a defined result: NaN counts as -FLT_MAX, +Inf as FLT_MAX and -Inf as
// -FLT_MAX before any gating, so every score is finite and selection is total. Ties go to the
// lower expert index (and the lower group index), as in the CPU reference.
#if USE_SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#define USE_ROUTER_PARAMS
#include "router_params.h"
#include "ggml_types.glsl"

layout(constant_id = 0) const uint WTYPE = 0;   // router weight type
layout(constant_id = 1) const uint SHTYPE = 0;  // shared-expert gate weight type
#define WG 128
layout(local_size_x = WG) in;

layout(std430, binding = 0) buffer Xb { float X[]; };  // written only with ROUTER_POST
layout(std430, binding = 1) readonly buffer Wb { uint W[]; };         // [E, H] of WTYPE
layout(std430, binding = 2) readonly buffer Bb { float bias[]; };     // [E] selection bias
layout(std430, binding = 3) writeonly buffer Ib { uint ids[]; };      // [T, k]
layout(std430, binding = 4) writeonly buffer Ob { float weights[]; }; // [T, k]
layout(std430, binding = 5) writeonly buffer Lb { float logits_out[]; };  // [T, E]
layout(std430, binding = 6) buffer Cb { uint counts[]; };             // [E]
layout(std430, binding = 7) readonly buffer Sb { uint WS[]; };        // [H] of SHTYPE
layout(std430, binding = 8) writeonly buffer Gb { float shared_gate[]; };  // [T]
// ROUTER_NORM: the norm weight [H] and the normalized x [T, H] this kernel writes and then
// scores (coherent: invocations of the workgroup read what others wrote before the barrier).
layout(std430, binding = 9) readonly buffer Nb { float norm_w[]; };
layout(std430, binding = 10) coherent buffer XNb { float XN[]; };
layout(std430, binding = 11) readonly buffer LBb { float logit_bias[]; };  // [E], ROUTER_LOGIT_BIAS
layout(std430, binding = 12) readonly buffer NBb { float norm_b[]; };  // [H], ROUTER_NORM_BIAS
// ROUTER_POST: the branch output Y [T, H] and its norm's weight [H] (Grok's attention post norm).
layout(std430, binding = 13) readonly buffer PWb { float post_w[]; };
layout(std430, binding = 14) readonly buffer Yb { float Y[]; };
#define NORM ((p.flags & ROUTER_NORM) != 0)
#define X_AT(i) (NORM ? XN[i] : X[i])

#define RD_NAME router_dot
#define RD_BUF W
#define RD_TYPE WTYPE
#include "row_dot.glsl"
#undef RD_NAME
#undef RD_BUF
#undef RD_TYPE
#define RD_NAME shared_gate_dot
#define RD_BUF WS
#define RD_TYPE SHTYPE
#include "row_dot.glsl"

const float FLT_MAX = 3.402823466e38;
const float UNAVAILABLE = -1.0 / 0.0;  // below every sanitized score

shared float logit[ROUTER_MAX_EXPERTS];  // sanitized logits
shared float score[ROUTER_MAX_EXPERTS];  // selection scores; UNAVAILABLE once taken or masked
shared float red_val[WG];
shared uint red_idx[WG];
shared uint sel_id[ROUTER_MAX_K];
shared float sel_w[ROUTER_MAX_K];
shared float group_score[ROUTER_MAX_GROUPS];
shared float softmax_max;
shared float softmax_sum;

float sanitize(float v) {
  if (isnan(v)) return -FLT_MAX;
  return clamp(v, -FLT_MAX, FLT_MAX);
}

// Index of the best available score (ties: lower index); UINT_MAX if none is available.
uint argmax_score() {
  const uint tid = gl_LocalInvocationID.x;
  float best = UNAVAILABLE;
  uint best_i = 0xFFFFFFFFu;
  for (uint e = tid; e < p.experts; e += WG) {
    if (score[e] > best) {  // strict: the first (lowest) index wins a tie within this thread
      best = score[e];
      best_i = e;
    }
  }
  red_val[tid] = best;
  red_idx[tid] = best_i;
  barrier();
  for (uint s = WG / 2; s > 0; s >>= 1) {
    if (tid < s) {
      const float v = red_val[tid + s];
      const uint i = red_idx[tid + s];
      if (v > red_val[tid] || (v == red_val[tid] && i < red_idx[tid])) {
        red_val[tid] = v;
        red_idx[tid] = i;
      }
    }
    barrier();
  }
  const uint r = red_val[0] == UNAVAILABLE ? 0xFFFFFFFFu : red_idx[0];
  barrier();  // everyone has read red_* before the next call overwrites it
  return r;
}

#include "wg_reduce.glsl"

// ROUTER_NORM: XN[t] = x_t / sqrt(mean(x_t^2) + eps) * norm_w, by the whole workgroup; the
// experts then read XN, so "FFN norm + router" is one dispatch. ROUTER_NORM_CENTER makes it a
// LayerNorm (the mean subtracted, variance about it from a second pass), ROUTER_NORM_BIAS adds
// norm_b. ROUTER_POST first updates the residual row: x_t += Y_t / rms(Y_t) * post_w (each
// invocation rereads only the elements it wrote; no other workgroup reads row t).
void normalize_x(uint t) {
  const uint tid = gl_LocalInvocationID.x, xbase = t * p.x_stride;
  if ((p.flags & ROUTER_POST) != 0) {
    float sy = 0.0;
    for (uint i = tid; i < p.hidden; i += WG) sy += Y[t * p.hidden + i] * Y[t * p.hidden + i];
    const float inv_y = 1.0 / sqrt(wg_sum(sy) / float(p.hidden) + p.eps);
    for (uint i = tid; i < p.hidden; i += WG) X[xbase + i] += Y[t * p.hidden + i] * inv_y * post_w[i];
  }
  float mean = 0.0;
  if ((p.flags & ROUTER_NORM_CENTER) != 0) {
    float s1 = 0.0;
    for (uint i = tid; i < p.hidden; i += WG) s1 += X[xbase + i];
    mean = wg_sum(s1) / float(p.hidden);
  }
  float ss = 0.0;
  for (uint i = tid; i < p.hidden; i += WG) ss += (X[xbase + i] - mean) * (X[xbase + i] - mean);
  const float inv = 1.0 / sqrt(wg_sum(ss) / float(p.hidden) + p.eps);
  const bool bias = (p.flags & ROUTER_NORM_BIAS) != 0;
  for (uint i = tid; i < p.hidden; i += WG)
    XN[t * p.hidden + i] = (X[xbase + i] - mean) * inv * norm_w[i] + (bias ? norm_b[i] : 0.0);
  memoryBarrierBuffer();
  barrier();
}

void main() {
  const uint t = gl_WorkGroupID.x;
  const uint tid = gl_LocalInvocationID.x;
  const uint E = p.experts, K = p.k;
  if (NORM) normalize_x(t);  // uniform
  const uint xbase = NORM ? t * p.hidden : t * p.x_stride;

  // 1. Logits.
#if USE_SUBGROUP
  for (uint e = gl_SubgroupID; e < E; e += gl_NumSubgroups) {
    const float v = subgroupAdd(router_dot(e, p.hidden, xbase, gl_SubgroupInvocationID, gl_SubgroupSize));
    if (subgroupElect()) logit[e] = v;
  }
  if ((p.flags & ROUTER_SHARED_GATE) != 0 && gl_SubgroupID == 0) {
    const float v = subgroupAdd(shared_gate_dot(0, p.hidden, xbase, gl_SubgroupInvocationID, gl_SubgroupSize));
    if (subgroupElect()) shared_gate[t] = 1.0 / (1.0 + exp(-sanitize(v)));
  }
#else
  for (uint e = tid; e < E; e += WG) logit[e] = router_dot(e, p.hidden, xbase, 0, 1);
  if ((p.flags & ROUTER_SHARED_GATE) != 0 && tid == 0)
    shared_gate[t] = 1.0 / (1.0 + exp(-sanitize(shared_gate_dot(0, p.hidden, xbase, 0, 1))));
#endif
  barrier();
  for (uint e = tid; e < E; e += WG) {
    if ((p.flags & ROUTER_LOGIT_BIAS) != 0) logit[e] += logit_bias[e];
    if ((p.flags & ROUTER_WRITE_LOGITS) != 0) logits_out[t * E + e] = logit[e];
    logit[e] = sanitize(logit[e]);
  }
  barrier();

  // 2. Softmax statistics over all experts (for the schemes whose weights are probabilities).
  const bool full_softmax = p.gating == GATING_SOFTMAX_TOPK || p.gating == GATING_THRESHOLD;
  if (full_softmax) {
    if (tid == 0) {
      float m = -FLT_MAX;
      for (uint e = 0; e < E; ++e) m = max(m, logit[e]);
      float s = 0.0;
      for (uint e = 0; e < E; ++e) s += exp(logit[e] - m);
      softmax_max = m;
      softmax_sum = s;
    }
    barrier();
  }

  // 3. Selection scores. Softmax schemes select by logit (same order as probability, without
  // exp's rounding creating ties), or with a selection bias by probability + bias (ERNIE-4.5,
  // as llama.cpp adds exp_probs_b to the gated probabilities); the sigmoid scheme by sigmoid + bias.
  for (uint e = tid; e < E; e += WG) {
    float s = logit[e];
    if (p.gating == GATING_SIGMOID) s = 1.0 / (1.0 + exp(-s));
    if ((p.flags & ROUTER_BIAS) != 0) {
      if (full_softmax) s = exp(s - softmax_max) / softmax_sum;
      s += bias[e];
    }
    score[e] = s;
  }
  barrier();

  // 4. Group-limited selection: keep the topk_group best groups, mask the rest.
  if (p.n_group > 1) {
    const uint gsize = E / p.n_group;
    if (tid < p.n_group) {
      float a = UNAVAILABLE, b = UNAVAILABLE;  // best and second best in the group
      for (uint e = tid * gsize; e < (tid + 1) * gsize; ++e) {
        const float s = score[e];
        if (s > a) { b = a; a = s; } else if (s > b) { b = s; }
      }
      group_score[tid] = (p.flags & ROUTER_GROUP_TOP2) != 0 ? a + b : a;
    }
    barrier();
    if (tid == 0) {
      // Few groups (<= 64): one thread picks them; ties go to the lower group.
      uint keep_mask_lo = 0, keep_mask_hi = 0;
      for (uint r = 0; r < p.topk_group; ++r) {
        float best = UNAVAILABLE;
        uint bi = 0xFFFFFFFFu;
        for (uint g = 0; g < p.n_group; ++g) {
          const bool kept = g < 32 ? (keep_mask_lo & (1u << g)) != 0 : (keep_mask_hi & (1u << (g - 32))) != 0;
          if (!kept && (bi == 0xFFFFFFFFu || group_score[g] > best)) { best = group_score[g]; bi = g; }
        }
        if (bi < 32) keep_mask_lo |= 1u << bi; else if (bi != 0xFFFFFFFFu) keep_mask_hi |= 1u << (bi - 32);
      }
      for (uint g = 0; g < p.n_group; ++g) {
        const bool kept = g < 32 ? (keep_mask_lo & (1u << g)) != 0 : (keep_mask_hi & (1u << (g - 32))) != 0;
        group_score[g] = kept ? 1.0 : 0.0;
      }
    }
    barrier();
    for (uint e = tid; e < E; e += WG)
      if (group_score[e / gsize] == 0.0) score[e] = UNAVAILABLE;
    barrier();
  }

  // 5. Top-k, one expert per round.
  for (uint r = 0; r < K; ++r) {
    const uint e = argmax_score();
    if (tid == 0) {
      sel_id[r] = e;
      if (e != 0xFFFFFFFFu) score[e] = UNAVAILABLE;
    }
    barrier();
  }

  // 6. Weights, normalisation, output.
  if (tid == 0) {
    uint n = 0;
    for (uint r = 0; r < K; ++r) {
      const uint e = sel_id[r];
      float w = 0.0;
      if (e != 0xFFFFFFFFu) {
        if (full_softmax) w = exp(logit[e] - softmax_max) / softmax_sum;
        else if (p.gating == GATING_SIGMOID) w = 1.0 / (1.0 + exp(-logit[e]));
        else w = logit[e];  // GATING_TOPK_SOFTMAX: softmaxed below
        if (p.gating == GATING_THRESHOLD && w < p.threshold) {
          sel_id[r] = 0xFFFFFFFFu;
          w = 0.0;
        }
      }
      sel_w[r] = w;
    }
    if (p.gating == GATING_TOPK_SOFTMAX) {
      float m = -FLT_MAX;
      for (uint r = 0; r < K; ++r) if (sel_id[r] != 0xFFFFFFFFu) m = max(m, sel_w[r]);
      float s = 0.0;
      for (uint r = 0; r < K; ++r) if (sel_id[r] != 0xFFFFFFFFu) s += exp(sel_w[r] - m);
      for (uint r = 0; r < K; ++r) sel_w[r] = sel_id[r] != 0xFFFFFFFFu ? exp(sel_w[r] - m) / s : 0.0;
    }
    if ((p.flags & ROUTER_RENORM) != 0) {
      float s = 0.0;
      for (uint r = 0; r < K; ++r) s += sel_w[r];
      if (s > 0.0) for (uint r = 0; r < K; ++r) sel_w[r] /= s;
    }
    for (uint r = 0; r < K; ++r) {
      ids[t * K + r] = sel_id[r];
      weights[t * K + r] = sel_w[r] * p.scale;
      if ((p.flags & ROUTER_COUNT) != 0 && sel_id[r] != 0xFFFFFFFFu) atomicAdd(counts[sel_id[r]], 1u);
    }
  }
}
