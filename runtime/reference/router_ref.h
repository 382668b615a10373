// CPU reference for the router, in double precision: the semantics record_router must match.
#pragma once
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "runtime/kernels/router.h"

namespace vkmoe {

// logits[t * E + e] = sum_h w[e * H + h] * x[t * H + h] (w already dequantized).
std::vector<double> router_logits_ref(std::span<const float> w, std::span<const float> x, uint32_t tokens,
                                      uint32_t experts, uint32_t hidden);

struct RouterSelection {
  std::vector<uint32_t> ids;      // k entries; 0xFFFFFFFF for an empty slot
  std::vector<double> weights;    // k entries
  std::vector<double> scores;     // E selection scores (after sanitising, bias, group mask)
  // With expert groups: the weakest kept group's score minus the best dropped one's (a near-tie
  // there changes the selection as one between experts does); infinite without groups.
  double group_margin = std::numeric_limits<double>::infinity();
};

// One token's selection from its E logits. bias may be empty.
RouterSelection router_select_ref(const RouterConfig& cfg, std::span<const double> logits,
                                  std::span<const float> bias);

}  // namespace vkmoe
