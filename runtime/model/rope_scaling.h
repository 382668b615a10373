// YaRN's magnitude factors, written once for the GPU forward (model.cpp, deepseek2.cpp) and the
// CPU reference (forward_ref.cpp). As llama.cpp has them:
//  - ggml's RoPE multiplies cos/sin by its attn_factor argument and, under YaRN, by
//    yarn_rope_magnitude() as well (the op does that itself: record_rope and rope_ref);
//  - a model passes the file's rope.scaling.attn_factor (1 when absent) as that argument;
//  - DeepSeek's MLA under YaRN also divides it by yarn_rope_magnitude(), cancelling it inside
//    RoPE, and scales the attention logits by mscale^2 instead (mla_logit_scale).
#pragma once
#include <string>

#include "runtime/model/model_config.h"

namespace vkmoe {

// The attn_factor the model gives RoPE (before the op's own YaRN correction).
double rope_attn_factor(const ModelConfig& c, bool mla);
// The magnitude RoPE gives cos/sin in the end: rope_attn_factor times the YaRN correction.
double rope_magnitude(const ModelConfig& c, bool mla);
// MLA's factor on 1/sqrt(head_dim_k): mscale^2, mscale = 1 + yarn_log_multiplier ln(1 / freq_scale)
// under YaRN, else 1.
double mla_logit_scale(const ModelConfig& c);
// The per-pair frequency factors RoPE divides each angle by, for n_ctx positions per sequence, as
// llama.cpp's get_rope_factors: rope_freqs.weight (llama4) when present; else LongRoPE's
// rope_factors_long when n_ctx exceeds rope.scaling.original_context_length, else its
// rope_factors_short (either may be absent). Empty: none.
std::string rope_factors_tensor(const ModelConfig& c, uint32_t n_ctx);

}  // namespace vkmoe
