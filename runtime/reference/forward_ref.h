// CPU reference forward pass in double precision on the file's dequantized weights: the
// ground truth the GPU forward is tested against. Slow and simple on purpose.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace vkmoe {

class GgufFile;
struct ModelConfig;

// Logits of every position of `tokens` (causal), row-major [tokens.size(), n_vocab].
// route_margins, when given, receives per token the smallest gap over the MoE layers between the
// weakest chosen expert's selection score and the best unchosen one: where it is tiny a GPU may
// legitimately route differently, and that token's logits (and later ones) differ by much more
// than rounding.
// n_ctx: the context per sequence the GPU model runs with (ModelOptions::n_ctx, default 4096),
// which picks LongRoPE's long or short factors (rope_factors_tensor).
std::vector<double> reference_forward(const GgufFile& file, const ModelConfig& cfg, std::span<const int32_t> tokens,
                                      std::vector<double>* route_margins = nullptr, uint32_t n_ctx = 4096);

// Greedy continuation of `prompt` by `steps` tokens (recomputes from scratch each step).
std::vector<int32_t> reference_greedy(const GgufFile& file, const ModelConfig& cfg, std::span<const int32_t> prompt,
                                      int steps, uint32_t n_ctx = 4096);

}  // namespace vkmoe
