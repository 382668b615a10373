// CPU reference of DeepSeek's multi-head latent attention block (runtime/blocks/attention_mla.h),
// in double precision and decompressed as vkmoe runs it: per head q = [q_nope, q_pe] (through
// the normed q latent when q_lora_rank > 0); kv_a = [latent, k_pe]; attn_kv_b (or attn_k_b and
// attn_v_b rebuilt into it) on the normed latent gives per head [k_nope, v]; every head's key is
// [k_nope_h, k_pe]. RoPE (normal layout) on the pe parts only, with DeepSeek's YaRN magnitude and
// logit scale (runtime/model/rope_scaling.h); then the attention core of attention_gqa_ref.h.
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/reference/ref_weights.h"

namespace vkmoe {

struct ModelConfig;

namespace blocks::attention_mla {

// Layer `layer`'s attention over positions 0 .. xn.size() - 1 (xn: each position's attention-norm
// output): per position, what the layer adds to the residual.
std::vector<ref::Vec> reference(ref::RefWeights& w, const ModelConfig& cfg, uint32_t layer, const std::vector<ref::Vec>& xn);

}  // namespace blocks::attention_mla
}  // namespace vkmoe
