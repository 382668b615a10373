// The server's counters, rendered in Prometheus' text format for GET /metrics.
#pragma once
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/model/generator.h"

namespace vkmoe {

struct RoutingSnapshot;

class ServerMetrics {
 public:
  void add_request(const GenerationStats& s);
  void set_expert_counts(const RoutingSnapshot& r);  // the model's counts since load
  void set_kv_cells(uint32_t used) { kv_cells_.store(used); }
  std::string prometheus(uint32_t queued, uint32_t active, uint32_t kv_size) const;

 private:
  mutable std::mutex mu_;
  uint64_t requests_ = 0, prompt_tokens_ = 0, generated_tokens_ = 0;
  double prefill_seconds_ = 0, decode_seconds_ = 0;
  uint32_t layers_ = 0, experts_ = 0;
  std::vector<uint32_t> expert_counts_;
  std::atomic<uint32_t> kv_cells_{0};
};

}  // namespace vkmoe
