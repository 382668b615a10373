#include "runtime/server/metrics.h"

#include <algorithm>
#include <cstdio>

namespace vkmoe {

namespace {

std::string number(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%.6g", value);
  return text;
}

void metric(std::string& out, const char* name, const char* type, const char* help, double value) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " + number(value) + "\n";
}

void expert_load(std::string& out, const RoutingSnapshot& r) {
  if (r.experts == 0 || r.counts.size() < size_t(r.layers) * r.experts) return;
  out += "# HELP vkmoe_expert_tokens_total Tokens routed to each expert since load, over all slots.\n"
         "# TYPE vkmoe_expert_tokens_total counter\n";
  std::string imbalance = "# HELP vkmoe_expert_load_imbalance Per layer: busiest expert's tokens / mean (1 = even).\n"
                          "# TYPE vkmoe_expert_load_imbalance gauge\n";
  for (uint32_t l = 0; l < r.layers; ++l) {
    uint64_t total = 0, most = 0;
    for (uint32_t e = 0; e < r.experts; ++e) {
      const uint32_t c = r.counts[size_t(l) * r.experts + e];
      total += c;
      most = std::max<uint64_t>(most, c);
      out += "vkmoe_expert_tokens_total{layer=\"" + std::to_string(l) + "\",expert=\"" + std::to_string(e) + "\"} " +
             std::to_string(c) + "\n";
    }
    imbalance += "vkmoe_expert_load_imbalance{layer=\"" + std::to_string(l) + "\"} " +
                 number(total ? double(most) * r.experts / double(total) : 0.0) + "\n";
  }
  out += imbalance;
}

}  // namespace

std::string prometheus_metrics(const BatchStats& s, uint32_t n_ctx, uint32_t moe_batched_from) {
  std::string out;
  const uint64_t prefilled = s.prompt_tokens;  // cached prompt tokens are not run
  metric(out, "vkmoe_requests_total", "counter", "Finished generation requests.", double(s.requests));
  metric(out, "vkmoe_prompt_tokens_total", "counter", "Prompt tokens run through the model.", double(prefilled));
  metric(out, "vkmoe_prompt_tokens_cached_total", "counter", "Prompt tokens a slot's KV cache already held (not run).",
         double(s.cached_tokens));
  metric(out, "vkmoe_prompt_seconds_total", "counter", "Seconds spent in prefill.", s.prefill_seconds);
  metric(out, "vkmoe_tokens_predicted_total", "counter", "Generated tokens.", double(s.generated_tokens));
  metric(out, "vkmoe_decode_seconds_total", "counter", "Seconds spent in decode steps.", s.decode_seconds);
  metric(out, "vkmoe_prompt_tokens_seconds", "gauge", "Average prefill throughput in tokens/s.",
         s.prefill_seconds > 0 ? prefilled / s.prefill_seconds : 0);
  metric(out, "vkmoe_predicted_tokens_seconds", "gauge", "Average decode throughput in tokens/s, over all slots.",
         s.decode_seconds > 0 ? s.step_tokens / s.decode_seconds : 0);
  metric(out, "vkmoe_decode_steps_total", "counter", "Decode steps (one batched pass each).", double(s.decode_steps));
  metric(out, "vkmoe_decode_batched_steps_total", "counter", "Decode steps that ran more than one slot.",
         double(s.batched_steps));
  metric(out, "vkmoe_decode_step_tokens_total", "counter", "Tokens run by decode steps (/ steps: the mean batch).",
         double(s.step_tokens));
  metric(out, "vkmoe_decode_step_tokens_max", "gauge", "Most slots one decode step has run.", s.largest_step);
  metric(out, "vkmoe_moe_batched_from_tokens", "gauge",
         "Tokens from which a MoE layer takes its batched path (the device's crossover for this model).", moe_batched_from);
  metric(out, "vkmoe_slots", "gauge", "Slots (-np).", s.slots);
  metric(out, "vkmoe_requests_processing", "gauge", "Requests in a slot.", s.active);
  metric(out, "vkmoe_requests_processing_max", "gauge", "Most requests in slots at once since start.", s.most_active);
  metric(out, "vkmoe_requests_deferred", "gauge", "Requests waiting in the queue.", s.queued);
  uint64_t used = 0;
  for (uint32_t c : s.slot_cells) used += c;
  metric(out, "vkmoe_kv_cache_used_cells", "gauge", "KV cache cells holding tokens, over all slots (kept for prefix reuse).",
         double(used));
  metric(out, "vkmoe_kv_cache_cells", "gauge", "KV cache cells over all slots (-c x -np).", double(n_ctx) * s.slots);
  out += "# HELP vkmoe_slot_kv_cache_used_cells KV cache cells holding tokens, per slot.\n"
         "# TYPE vkmoe_slot_kv_cache_used_cells gauge\n";
  for (size_t i = 0; i < s.slot_cells.size(); ++i)
    out += "vkmoe_slot_kv_cache_used_cells{slot=\"" + std::to_string(i) + "\"} " + std::to_string(s.slot_cells[i]) + "\n";
  expert_load(out, s.routing);
  return out;
}

}  // namespace vkmoe
