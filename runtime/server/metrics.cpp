#include "runtime/server/metrics.h"

#include <algorithm>
#include <cstdio>

#include "runtime/model/model.h"

namespace vkmoe {

void ServerMetrics::add_request(const GenerationStats& s) {
  std::lock_guard lock(mu_);
  ++requests_;
  prompt_tokens_ += s.prompt_tokens;
  generated_tokens_ += s.generated_tokens;
  prefill_seconds_ += s.prefill_seconds;
  decode_seconds_ += s.decode_seconds;
}

void ServerMetrics::set_expert_counts(const RoutingSnapshot& r) {
  std::lock_guard lock(mu_);
  layers_ = r.layers;
  experts_ = r.experts;
  expert_counts_ = r.counts;
}

namespace {
void metric(std::string& out, const char* name, const char* type, const char* help, double value) {
  char line[160];
  std::snprintf(line, sizeof line, "%.6g", value);
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " + line + "\n";
}
}  // namespace

std::string ServerMetrics::prometheus(uint32_t queued, uint32_t active, uint32_t kv_size) const {
  std::lock_guard lock(mu_);
  std::string out;
  metric(out, "vkmoe_requests_total", "counter", "Completed generation requests.", double(requests_));
  metric(out, "vkmoe_prompt_tokens_total", "counter", "Prompt tokens run through the model.", double(prompt_tokens_));
  metric(out, "vkmoe_prompt_seconds_total", "counter", "Seconds spent in prefill.", prefill_seconds_);
  metric(out, "vkmoe_tokens_predicted_total", "counter", "Generated tokens.", double(generated_tokens_));
  metric(out, "vkmoe_decode_seconds_total", "counter", "Seconds spent in decode.", decode_seconds_);
  metric(out, "vkmoe_prompt_tokens_seconds", "gauge", "Average prefill throughput in tokens/s.",
         prefill_seconds_ > 0 ? prompt_tokens_ / prefill_seconds_ : 0);
  metric(out, "vkmoe_predicted_tokens_seconds", "gauge", "Average decode throughput in tokens/s.",
         decode_seconds_ > 0 ? generated_tokens_ / decode_seconds_ : 0);
  metric(out, "vkmoe_requests_processing", "gauge", "Requests running on the model.", active);
  metric(out, "vkmoe_requests_deferred", "gauge", "Requests waiting in the queue.", queued);
  metric(out, "vkmoe_kv_cache_used_cells", "gauge", "KV cache cells holding the running request's tokens.",
         kv_cells_.load());
  metric(out, "vkmoe_kv_cache_cells", "gauge", "KV cache size in cells (-c).", kv_size);
  if (experts_ == 0 || expert_counts_.size() < size_t(layers_) * experts_) return out;
  out += "# HELP vkmoe_expert_tokens_total Tokens routed to each expert since load.\n"
         "# TYPE vkmoe_expert_tokens_total counter\n";
  std::string imbalance = "# HELP vkmoe_expert_load_imbalance Per layer: busiest expert's tokens / mean (1 = even).\n"
                          "# TYPE vkmoe_expert_load_imbalance gauge\n";
  for (uint32_t l = 0; l < layers_; ++l) {
    uint64_t total = 0, most = 0;
    for (uint32_t e = 0; e < experts_; ++e) {
      const uint32_t c = expert_counts_[size_t(l) * experts_ + e];
      total += c;
      most = std::max<uint64_t>(most, c);
      out += "vkmoe_expert_tokens_total{layer=\"" + std::to_string(l) + "\",expert=\"" + std::to_string(e) + "\"} " +
             std::to_string(c) + "\n";
    }
    char v[64];
    std::snprintf(v, sizeof v, "%.4g", total ? double(most) * experts_ / double(total) : 0.0);
    imbalance += "vkmoe_expert_load_imbalance{layer=\"" + std::to_string(l) + "\"} " + v + "\n";
  }
  return out + imbalance;
}

}  // namespace vkmoe
