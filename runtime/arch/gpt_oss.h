// gpt-oss (general.architecture "gpt-oss"; llama.cpp's LLM_ARCH_OPENAI_MOE).
#pragma once

namespace vkmoe {

class GgufFile;
struct ModelConfig;

// Fills what is particular to gpt-oss into a config whose common hyperparameters (widths,
// heads, RoPE, experts) load_model_config has read: the sliding-window layer pattern, sinks,
// biases, router gating and the clamped SwiGLU. Throws naming the file and the key.
void configure_gpt_oss(const GgufFile& file, ModelConfig& config);

}  // namespace vkmoe
