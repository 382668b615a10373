// The server's counters (the batch loop's BatchStats), rendered in Prometheus' text format for
// GET /metrics.
#pragma once
#include <cstdint>
#include <string>

#include "runtime/server/batch_loop.h"

namespace vkmoe {

// n_ctx: each slot's KV cache length (-c); moe_batched_from: the token count from which a MoE
// layer takes its batched path (the device's measured crossover for this model's k / experts).
std::string prometheus_metrics(const BatchStats& s, uint32_t n_ctx, uint32_t moe_batched_from);

}  // namespace vkmoe
