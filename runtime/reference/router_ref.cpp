#include "runtime/reference/router_ref.h"

#include <cfloat>
#include <cmath>
#include <limits>

namespace vkmoe {

std::vector<double> router_logits_ref(std::span<const float> w, std::span<const float> x, uint32_t tokens,
                                      uint32_t experts, uint32_t hidden) {
  std::vector<double> out(static_cast<size_t>(tokens) * experts);
  for (uint32_t t = 0; t < tokens; ++t)
    for (uint32_t e = 0; e < experts; ++e) {
      double acc = 0;
      for (uint32_t h = 0; h < hidden; ++h)
        acc += static_cast<double>(w[static_cast<size_t>(e) * hidden + h]) * x[static_cast<size_t>(t) * hidden + h];
      out[static_cast<size_t>(t) * experts + e] = acc;
    }
  return out;
}

static double sanitize(double v) {
  if (std::isnan(v)) return -FLT_MAX;
  return std::fmin(std::fmax(v, -static_cast<double>(FLT_MAX)), static_cast<double>(FLT_MAX));
}

static double sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }

RouterSelection router_select_ref(const RouterConfig& cfg, std::span<const double> raw, std::span<const float> bias) {
  const uint32_t E = cfg.experts;
  const uint32_t k = cfg.gating == Gating::top1 ? 1 : cfg.k;
  const double unavailable = -std::numeric_limits<double>::infinity();
  const bool full_softmax = cfg.gating == Gating::softmax_topk || cfg.gating == Gating::top1 ||
                            cfg.gating == Gating::threshold;
  std::vector<double> logit(E), score(E);
  double m = -FLT_MAX, sum = 0;
  for (uint32_t e = 0; e < E; ++e) m = std::fmax(m, logit[e] = sanitize(raw[e]));
  if (full_softmax)
    for (double v : logit) sum += std::exp(v - m);
  for (uint32_t e = 0; e < E; ++e) {
    score[e] = cfg.gating == Gating::sigmoid_group ? sigmoid(logit[e]) : logit[e];
    // A selection bias goes on the gated probabilities, as llama.cpp adds exp_probs_b.
    if (!bias.empty()) score[e] = (full_softmax ? std::exp(logit[e] - m) / sum : score[e]) + bias[e];
  }
  double group_margin = INFINITY;
  if (cfg.n_group > 1) {
    const uint32_t gsize = E / cfg.n_group;
    std::vector<double> gscore(cfg.n_group);
    for (uint32_t g = 0; g < cfg.n_group; ++g) {
      double a = unavailable, b = unavailable;
      for (uint32_t e = g * gsize; e < (g + 1) * gsize; ++e) {
        if (score[e] > a) b = a, a = score[e];
        else if (score[e] > b) b = score[e];
      }
      gscore[g] = cfg.group_top2 ? a + b : a;
    }
    std::vector<bool> kept(cfg.n_group, false);
    for (uint32_t r = 0; r < cfg.topk_group; ++r) {
      int best = -1;
      for (uint32_t g = 0; g < cfg.n_group; ++g)
        if (!kept[g] && (best < 0 || gscore[g] > gscore[best])) best = static_cast<int>(g);
      kept[best] = true;
    }
    for (uint32_t e = 0; e < E; ++e)
      if (!kept[e / gsize]) score[e] = unavailable;
    double weakest = INFINITY, best_dropped = -INFINITY;
    for (uint32_t g = 0; g < cfg.n_group; ++g) {
      if (kept[g]) weakest = std::min(weakest, gscore[g]);
      else best_dropped = std::max(best_dropped, gscore[g]);
    }
    group_margin = weakest - best_dropped;  // infinite when every group is kept
  }
  RouterSelection sel;
  sel.group_margin = group_margin;
  sel.scores = score;
  std::vector<double> avail = score;
  for (uint32_t r = 0; r < k; ++r) {
    int best = -1;
    for (uint32_t e = 0; e < E; ++e)
      if (avail[e] != unavailable && (best < 0 || avail[e] > avail[best])) best = static_cast<int>(e);
    sel.ids.push_back(best < 0 ? 0xFFFFFFFFu : static_cast<uint32_t>(best));
    if (best >= 0) avail[best] = unavailable;
  }
  sel.weights.assign(k, 0.0);
  for (uint32_t r = 0; r < k; ++r) {
    const uint32_t e = sel.ids[r];
    if (e == 0xFFFFFFFFu) continue;
    double w = full_softmax ? std::exp(logit[e] - m) / sum
               : cfg.gating == Gating::sigmoid_group ? sigmoid(logit[e])
                                                     : logit[e];
    if (cfg.gating == Gating::threshold && w < cfg.threshold) {
      sel.ids[r] = 0xFFFFFFFFu;
      w = 0;
    }
    sel.weights[r] = w;
  }
  if (cfg.gating == Gating::topk_softmax) {
    double mm = -FLT_MAX, s = 0;
    for (uint32_t r = 0; r < k; ++r)
      if (sel.ids[r] != 0xFFFFFFFFu) mm = std::fmax(mm, sel.weights[r]);
    for (uint32_t r = 0; r < k; ++r)
      if (sel.ids[r] != 0xFFFFFFFFu) s += std::exp(sel.weights[r] - mm);
    for (uint32_t r = 0; r < k; ++r)
      sel.weights[r] = sel.ids[r] != 0xFFFFFFFFu ? std::exp(sel.weights[r] - mm) / s : 0.0;
  }
  if (cfg.renormalize && cfg.gating != Gating::top1) {
    double s = 0;
    for (double w : sel.weights) s += w;
    if (s > 0)
      for (double& w : sel.weights) w /= s;
  }
  for (double& w : sel.weights) w *= cfg.scale;
  return sel;
}

}  // namespace vkmoe
