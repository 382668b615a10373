#include "runtime/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace vkmoe {

int32_t argmax(std::span<const float> logits) {
  int32_t best = -1;
  for (size_t i = 0; i < logits.size(); ++i)
    if (!std::isnan(logits[i]) && (best < 0 || logits[i] > logits[best])) best = static_cast<int32_t>(i);
  return best < 0 ? 0 : best;
}

Sampler::Sampler(SamplerConfig cfg) : cfg_(cfg) {
  seed_ = cfg.seed >= 0 ? static_cast<uint64_t>(cfg.seed)
                       : (static_cast<uint64_t>(std::random_device{}()) << 32 | std::random_device{}());
  rng_.seed(seed_);
}

void Sampler::accept(int32_t token) {
  if (cfg_.penalty_last_n <= 0) return;
  recent_.push_back(token);
  while (recent_.size() > static_cast<size_t>(cfg_.penalty_last_n)) recent_.pop_front();
}

int32_t Sampler::sample(std::span<const float> logits) {
  cand_.clear();
  cand_.reserve(logits.size());
  for (size_t i = 0; i < logits.size(); ++i)
    cand_.emplace_back(std::isnan(logits[i]) ? -INFINITY : logits[i], static_cast<int32_t>(i));

  // Penalties over the recent window.
  if (!recent_.empty() && (cfg_.repeat_penalty != 1.0f || cfg_.presence_penalty != 0.0f || cfg_.frequency_penalty != 0.0f)) {
    std::unordered_map<int32_t, int> count;
    for (int32_t t : recent_) ++count[t];
    for (auto [t, n] : count) {
      if (t < 0 || static_cast<size_t>(t) >= cand_.size()) continue;
      float& l = cand_[t].first;
      if (cfg_.repeat_penalty != 1.0f) l = l > 0 ? l / cfg_.repeat_penalty : l * cfg_.repeat_penalty;
      l -= cfg_.presence_penalty + cfg_.frequency_penalty * static_cast<float>(n);
    }
  }

  int32_t chosen;
  if (cfg_.temperature <= 0.0f) {
    chosen = 0;
    for (size_t i = 1; i < cand_.size(); ++i)
      if (cand_[i].first > cand_[chosen].first) chosen = static_cast<int32_t>(i);
  } else {
    // Sort by logit (ties: lower id first) so every filter and the draw are deterministic.
    auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
    size_t n = cand_.size();
    if (cfg_.top_k > 0 && static_cast<size_t>(cfg_.top_k) < n) {
      std::partial_sort(cand_.begin(), cand_.begin() + cfg_.top_k, cand_.end(), by_logit);
      n = cfg_.top_k;
    } else {
      std::sort(cand_.begin(), cand_.end(), by_logit);
    }
    const float max_l = cand_[0].first;
    std::vector<double> p(n);
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += p[i] = std::exp((cand_[i].first - max_l) / cfg_.temperature);
    for (auto& v : p) v /= sum;
    // min-p: drop tokens below min_p times the best probability.
    if (cfg_.min_p > 0.0f) {
      size_t keep = 1;
      while (keep < n && p[keep] >= cfg_.min_p * p[0]) ++keep;
      n = keep;
    }
    // top-p: the smallest prefix whose mass reaches top_p.
    if (cfg_.top_p < 1.0f) {
      double mass = 0;
      size_t keep = 0;
      while (keep < n && mass < cfg_.top_p) mass += p[keep++];
      n = std::max<size_t>(1, keep);
    }
    double total = 0;
    for (size_t i = 0; i < n; ++i) total += p[i];
    double r = std::uniform_real_distribution<double>(0.0, total)(rng_);
    size_t pick = n - 1;
    for (size_t i = 0; i < n; ++i) {
      if (r < p[i]) {
        pick = i;
        break;
      }
      r -= p[i];
    }
    chosen = cand_[pick].second;
  }
  accept(chosen);
  return chosen;
}

}  // namespace vkmoe
