// YaRN's magnitude factors, written once for the GPU forward (model.cpp, deepseek2.cpp) and the
// CPU reference (runtime/reference/ref_math.cpp, runtime/blocks/attention_mla_ref.cpp), as
// current llama.cpp computes them (src/llama-context.cpp: cparams.yarn_attn_factor, since PR
// 17945; src/models/deepseek2.cpp: kq_scale). F = 1 / freq_scale, g = 1 + 0.1 ln F
// (yarn_rope_magnitude), a = the file's rope.scaling.attn_factor (1 when absent):
//  - ggml's RoPE multiplies cos/sin by its attn_factor argument and, under YaRN (ext_factor != 0),
//    by g as well (the op does that itself: record_rope and rope_ref);
//  - under YaRN llama.cpp passes a * get_mscale(F, mscale) / get_mscale(F, mscale_all_dim) / g,
//    get_mscale(F, m) = 1 + 0.1 m ln F. Only DeepSeek's MLA (deepseek2) reads
//    rope.scaling.yarn_log_multiplier L; with it the ratio is 1 (llama.cpp takes mscale =
//    mscale_all_dim for deepseek2), without it (and for every other architecture) it is g. So
//    RoPE's magnitude is a with L, a g without; without YaRN it is a.
//  - deepseek2 scales the attention logits by mscale^2, mscale = a' (1 + L ln F), a' = the
//    argument times g (a with L under YaRN, else a g).
// Converters write L = 0.1 * mscale_all_dim (DeepSeek-V2 0.0707, V3 and Kimi-K2 0.1); llama.cpp
// divides it by 0.1 at load ([TAG_DEEPSEEK2_YARN_LOG_MUL_FIX]) and its formula multiplies by 0.1
// again, so L is used as written. They never write rope.scaling.attn_factor for these models; the
// newer converter's rope.scaling.yarn_beta_fast / yarn_beta_slow (Kimi-K2: 1 and 1) are not read
// for deepseek2 (llama.cpp keeps 32 and 1). Older llama.cpp (before PR 17945) gave a converted
// DeepSeek file (L set, no attn_factor) RoPE magnitude 1 and mscale 1 + L ln F: the same. Files
// with an attn_factor or without L follow the current llama.cpp (tests/deepseek2_yarn_test.cpp).
#pragma once
#include <string>

#include "runtime/model/model_config.h"

namespace vkmoe {

// The attn_factor the model gives RoPE (before the op's own YaRN correction g).
double rope_attn_factor(const ModelConfig& c, bool mla);
// The magnitude RoPE gives cos/sin in the end: rope_attn_factor times g under YaRN.
double rope_magnitude(const ModelConfig& c, bool mla);
// MLA's factor on 1/sqrt(head_dim_k): mscale^2 as above (1 for a file without scaling).
double mla_logit_scale(const ModelConfig& c);
// The per-pair frequency factors RoPE divides each angle by, for n_ctx positions per sequence, as
// llama.cpp's get_rope_factors: rope_freqs.weight (llama4) when present; else LongRoPE's
// rope_factors_long when n_ctx exceeds rope.scaling.original_context_length, else its
// rope_factors_short (either may be absent). Empty: none.
std::string rope_factors_tensor(const ModelConfig& c, uint32_t n_ctx);

}  // namespace vkmoe
