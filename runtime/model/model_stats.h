// Parameter and byte counts of a model file: total, and what one token actually touches.
#pragma once
#include <cstdint>
#include <vector>

namespace vkmoe {

class GgufFile;
struct ModelConfig;

struct ModelStats {
  uint64_t params = 0;              // every parameter in the file
  uint64_t bytes = 0;               // every tensor byte
  uint64_t expert_params = 0;       // routed experts, all layers
  uint64_t expert_bytes = 0;
  uint64_t active_params = 0;       // per token: dense + k/E of experts + one embedding row
  uint64_t active_bytes = 0;        // bytes read per decoded token: what bounds decode speed
  std::vector<uint64_t> layer_expert_bytes;  // routed expert bytes per layer
};

ModelStats model_stats(const GgufFile& file, const ModelConfig& cfg);

}  // namespace vkmoe
