// Token sampling on the CPU from one row of logits: penalties, then temperature, top-k, top-p
// and min-p filters, then a draw from a seeded generator (a fixed seed reproduces a run).
// Temperature 0 (or below) is greedy: the highest logit, ties to the lower id.
#pragma once
#include <cstdint>
#include <deque>
#include <random>
#include <span>
#include <vector>

namespace vkmoe {

struct SamplerConfig {
  float temperature = 0.8f;
  int32_t top_k = 40;             // 0 = off
  float top_p = 0.95f;            // 1 = off
  float min_p = 0.05f;            // 0 = off
  float repeat_penalty = 1.0f;    // llama.cpp's: divide positive logits, multiply negative ones
  float presence_penalty = 0.0f;  // subtract once for every token seen in the window
  float frequency_penalty = 0.0f; // subtract per occurrence in the window
  int32_t penalty_last_n = 64;    // window of recent tokens the penalties look at
  int64_t seed = -1;              // < 0: a random seed (printed by the commands)
};

class Sampler {
 public:
  explicit Sampler(SamplerConfig cfg);
  // Picks the next token and remembers it for the penalties.
  int32_t sample(std::span<const float> logits);
  void accept(int32_t token);  // prompt tokens count towards penalties too
  void clear_history() { recent_.clear(); }  // a new conversation: no penalties carried over
  uint64_t seed() const { return seed_; }
  const SamplerConfig& config() const { return cfg_; }

 private:
  SamplerConfig cfg_;
  uint64_t seed_;
  std::mt19937_64 rng_;
  std::deque<int32_t> recent_;
  std::vector<std::pair<float, int32_t>> cand_;
};

int32_t argmax(std::span<const float> logits);  // ties to the lower id; NaN never wins

}  // namespace vkmoe
