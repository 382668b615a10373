// Helpers for the whole-model tests: random prompts, and where a comparison with the reference
// stops meaning anything (a routing or greedy near-tie: the GPU's hidden state differs from the
// reference's by rounding, so a choice that close may legitimately flip, and every later token
// sees the flipped one).
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "runtime/gguf/gguf_reader.h"
#include "runtime/model/model.h"
#include "runtime/model/model_config.h"
#include "runtime/reference/forward_ref.h"
#include "runtime/sampling/sampler.h"
#include "tests/test_util.h"

namespace vkmoe::test {

// A model file built in memory, with the name a test reports it by.
struct ModelFile {
  std::string name;
  std::vector<uint8_t> bytes;
};

inline std::vector<int32_t> random_tokens(size_t n, uint32_t vocab) {
  std::vector<int32_t> t(n);
  for (auto& v : t) v = static_cast<int32_t>(rng()() % vocab);
  return t;
}

// Selection-score or top-logit gaps below this count as near-ties.
constexpr double kNearTie = 1e-3;

// The number of leading tokens whose margins are all clear of a near-tie.
inline size_t first_near_tie(const std::vector<double>& margins) {
  size_t r = 0;
  while (r < margins.size() && margins[r] > kNearTie) ++r;
  return r;
}

inline double top2_gap(std::span<const double> row) {
  double a = -INFINITY, b = -INFINITY;
  for (double v : row)
    if (v > a) b = a, a = v;
    else if (v > b) b = v;
  return a - b;
}

// `steps` greedy tokens after `prompt` on the GPU, the model's default session from position 0.
inline std::vector<int32_t> gpu_greedy(Model& m, std::span<const int32_t> prompt, int steps) {
  std::vector<int32_t> out;
  auto step = m.forward(prompt, 0);
  for (int s = 0; s < steps; ++s) {
    const int32_t next = argmax(step);
    out.push_back(next);
    if (s + 1 < steps) step = m.forward(std::span<const int32_t>(&next, 1), static_cast<uint32_t>(prompt.size()) + s);
  }
  return out;
}

// Relative L2 error of the GPU's logits for `tokens` of a synthetic model file against the
// double-precision reference (on the config options.adjust_config makes, if set), over the tokens
// before the first routing near-tie (-1: none before it). The GPU's logits go to gpu_out.
inline double synthetic_tokens_error(Context& ctx, const std::vector<uint8_t>& bytes, std::span<const int32_t> tokens,
                                     const ModelOptions& options, std::vector<float>* gpu_out = nullptr) {
  auto file = GgufFile::from_memory(bytes, "synthetic.gguf");
  auto cfg = load_model_config(file);
  if (options.adjust_config) options.adjust_config(cfg);
  std::vector<double> margins;
  auto ref = reference_forward(file, cfg, tokens, &margins, options.n_ctx);
  Model m(ctx, GgufFile::from_memory(bytes, "synthetic.gguf"), options);
  auto gpu = m.forward(tokens, 0, LogitsMode::all);
  if (gpu_out) *gpu_out = gpu;
  const size_t rows = first_near_tie(margins), V = cfg.n_vocab;
  if (rows < tokens.size()) MESSAGE("routing near-tie at token " << rows << ": comparing the tokens before it");
  if (rows == 0) return -1;
  const double err = rel_l2(std::span<const float>(gpu).first(rows * V), std::span<const double>(ref).first(rows * V));
  MESSAGE(cfg.arch_key << " synthetic: rel L2 " << err << " over " << rows << " tokens");
  return err;
}

// The same for 13 random tokens, the prompt in batches of n_batch.
inline double synthetic_gpu_error(Context& ctx, const std::vector<uint8_t>& bytes, uint32_t n_ctx, uint32_t n_batch = 8) {
  const auto tokens = random_tokens(13, load_model_config(GgufFile::from_memory(bytes, "synthetic.gguf")).n_vocab);
  return synthetic_tokens_error(ctx, bytes, tokens, {.n_ctx = n_ctx, .n_batch = n_batch, .progress = false});
}

// 32 greedy tokens of a synthetic model file on the GPU equal the reference's, up to the first
// routing or greedy near-tie; returns how many were compared. options.adjust_config, if set,
// changes the config for the reference too.
inline size_t check_synthetic_greedy(Context& ctx, const std::vector<uint8_t>& bytes,
                                     const ModelOptions& options = {.n_ctx = 64, .n_batch = 8, .progress = false}) {
  auto file = GgufFile::from_memory(bytes, "synthetic.gguf");
  auto cfg = load_model_config(file);
  if (options.adjust_config) options.adjust_config(cfg);
  auto prompt = random_tokens(5, cfg.n_vocab);
  auto ref = reference_greedy(file, cfg, prompt, 32, options.n_ctx);
  std::vector<int32_t> full(prompt);
  full.insert(full.end(), ref.begin(), ref.end() - 1);  // row prompt - 1 + i chose token i
  std::vector<double> margins;
  auto logits = reference_forward(file, cfg, full, &margins, options.n_ctx);
  for (size_t r = prompt.size() - 1; r < full.size(); ++r)
    margins[r] = std::min(margins[r], top2_gap(std::span<const double>(logits).subspan(r * cfg.n_vocab, cfg.n_vocab)));
  const size_t clear = first_near_tie(margins);
  const size_t n = clear >= prompt.size() ? clear - (prompt.size() - 1) : 0;
  Model m(ctx, GgufFile::from_memory(bytes, "synthetic.gguf"), options);
  const std::vector<int32_t> gpu = gpu_greedy(m, prompt, 32);
  if (n < 32) MESSAGE("near-tie at row " << clear << ": only the first " << n << " greedy tokens compared");
  CHECK(std::vector<int32_t>(gpu.begin(), gpu.begin() + n) == std::vector<int32_t>(ref.begin(), ref.begin() + n));
  return n;
}

}  // namespace vkmoe::test
