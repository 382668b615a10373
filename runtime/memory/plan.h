// The memory plan: what a model needs on a device, decided before anything is allocated.
// Weights are split into pieces no larger than one storage binding (by expert for stacked
// expert tensors, by rows otherwise), the KV cache and activations are sized for the requested
// context and batch, and the total is compared with the budget. With spill allowed, expert
// tensors of the last layers move to host-visible system memory until the rest fits.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/memory/activation_layout.h"
#include "runtime/quant/ggml_type.h"

namespace vkmoe {

class GgufFile;
struct ModelConfig;
struct DeviceCaps;

constexpr uint64_t kStagingChunk = 16ull << 20;  // Transfer's default chunk; the ring holds two

struct PlanOptions {
  uint32_t n_ctx = 4096;      // KV cache length (-c)
  uint32_t n_batch = 512;     // tokens per prefill batch
  uint32_t n_parallel = 1;    // sessions (-np), each with a KV cache of n_ctx
  uint64_t mem_budget = 0;    // cap on device memory in bytes (--mem-budget); 0 = the device's
  bool spill = false;         // allow experts in host-visible system memory (--spill)
  uint64_t max_piece = 0;     // cap on one piece (tests); 0 = maxStorageBufferRange
};

constexpr uint32_t kMaxPlanPieces = 4;  // bindings one weight tensor may span in the kernels

struct TensorPlan {
  std::string name;
  GgmlType type = GgmlType::F32;
  std::vector<uint64_t> shape;
  uint64_t bytes = 0;        // exact bytes in the file
  uint32_t layer = UINT32_MAX;  // block index, or UINT32_MAX for global tensors
  bool experts = false;      // stacked routed experts [cols, rows, E]
  uint64_t unit_bytes = 0;   // bytes of one split unit: one expert, or one row
  uint64_t units = 0;        // experts or rows
  uint64_t units_per_piece = 0;
  uint32_t pieces = 1;
  bool spilled = false;      // placed in host-visible system memory
};

struct PlanCategory {
  const char* name;
  uint64_t bytes = 0;
};

enum class PlanVerdict { fits, fits_with_spill, does_not_fit };
const char* verdict_name(PlanVerdict v);

struct MemoryPlan {
  std::vector<TensorPlan> tensors;
  uint64_t weights = 0;       // device-resident weight bytes (after padding to alignments)
  uint64_t spilled = 0;       // weight bytes in host memory
  uint64_t kv_cache = 0;
  uint64_t activations = 0;   // activations for one batch of max(n_batch, n_parallel) (layout's activations category)
  uint64_t logits = 0;        // logits readback [B, vocab]
  uint64_t scratch = 0;       // MoE scratch
  ActivationLayout layout;    // every non-weight buffer: what the Model allocates, verbatim
  uint64_t staging = 0;       // the Transfer's ring of two chunks; none where device memory is mapped
  uint64_t overhead = 0;      // pipeline and descriptor memory (estimate, not allocated by vkmoe)
  uint64_t available = 0;     // device bytes the plan may use
  uint64_t host_available = 0;
  PlanVerdict verdict = PlanVerdict::fits;
  std::vector<uint32_t> spilled_layers;  // layers whose experts live in host memory
  std::string error;          // non-empty when a single piece cannot be placed at all

  uint64_t device_total() const { return weights + kv_cache + activations + logits + scratch + staging + overhead; }
  std::vector<PlanCategory> categories() const;
  std::string summary(const std::string& device_name) const;  // multi-line, with numbers
  // The bytes planned for one allocation category (weights: device and spilled together).
  uint64_t planned(MemoryCategory c) const;
};

// Pure function of the file's tensor table, the config and the device: allocates nothing.
MemoryPlan plan_memory(const GgufFile& file, const ModelConfig& cfg, const DeviceCaps& caps, const PlanOptions& opt);

// "8G", "512M", "1.5GiB", "1000000" -> bytes; throws std::invalid_argument naming the text.
uint64_t parse_bytes(const std::string& text);

}  // namespace vkmoe
