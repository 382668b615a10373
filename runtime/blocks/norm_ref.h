// CPU reference of the norm block (runtime/blocks/norm.h), in double precision: the block norms
// (RMSNorm, or LayerNorm, with an optional bias), Grok's post norms of the attention's and the
// FFN's outputs, and the output head. Chosen by the config's flags, never the architecture's name.
#pragma once
#include <cstdint>
#include <string>

#include "runtime/reference/ref_weights.h"

namespace vkmoe {

struct ModelConfig;

namespace blocks::norm {

// x normed in place by the block norm '<base>.weight' (attn_norm, the FFN's norm, output_norm):
// RMSNorm, or LayerNorm (the mean subtracted first) with cfg.layer_norm; then + '<base>.bias'
// with cfg.norm_bias.
void reference(ref::Vec& x, ref::RefWeights& w, const std::string& base, const ModelConfig& cfg);
// Grok: the attention's output y of layer `layer` RMS-normed by attn_output_norm (cfg.attn_post_norm),
// and the FFN's by cfg.ffn_post_norm's tensor; nothing without them.
void reference_attn_post(ref::Vec& y, ref::RefWeights& w, uint32_t layer, const ModelConfig& cfg);
void reference_ffn_post(ref::Vec& y, ref::RefWeights& w, uint32_t layer, const ModelConfig& cfg);
// One position's logits [n_vocab] from its residual x: output_norm, then output (token_embd when
// tied), the logit scale (Granite, Grok), output.bias (phimoe) and the final softcap (Grok).
ref::Vec reference_head(ref::RefWeights& w, const ModelConfig& cfg, ref::Vec x);

}  // namespace blocks::norm
}  // namespace vkmoe
