// CPU reference of the GQA attention block (runtime/blocks/attention_gqa.h), in double precision:
// q/k/v projections, biases, clamp, QK-norm and RoPE as the config's flags and the layer's
// LayerSpec say, then causal attention (sliding window or chunk, sinks, softcap) and the output
// projection. The attention core is shared with the MLA block's reference (attention_mla_ref.h).
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/reference/ref_weights.h"

namespace vkmoe {

struct ModelConfig;

namespace blocks::attention_gqa {

// One position's projections in ModelConfig::attention_shape()'s widths: q [n_head * Dk],
// k [n_head_kv * Dk], v [n_head_kv * Dv].
struct RefQkv {
  ref::Vec q, k, v;
};

// Layer `layer`'s attention over positions 0 .. xn.size() - 1 (xn: each position's attention-norm
// output); freq_factors: rope_freqs or LongRoPE's factors, or null. Returns, per position, what
// the layer adds to the residual (before any post norm): attn_output of the attention, with its
// scale, Granite's residual scale and its bias.
std::vector<ref::Vec> reference(ref::RefWeights& w, const ModelConfig& cfg, uint32_t layer,
                                const std::vector<ref::Vec>& xn, const ref::Mat* freq_factors);

// The core both attention kinds share: each position's softmax over keys 0 .. t (or the layer's
// window or chunk), scores q.k * scale (softcapped with cfg.attn_softcap, a sink per head with
// LayerSpec::sinks), then the output projection as above.
std::vector<ref::Vec> reference_attend(ref::RefWeights& w, const ModelConfig& cfg, uint32_t layer,
                                       const std::vector<RefQkv>& qkv, double scale);

}  // namespace blocks::attention_gqa
}  // namespace vkmoe
