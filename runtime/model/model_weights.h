// A model's weights resident on the device, placed by the memory plan: one buffer per tensor,
// sub-allocated from a few large memory blocks. Kernels bind a tensor larger than one storage
// binding as up to 4 pieces (make_expert_tensor / make_dense_weight split it by experts or rows).
#pragma once
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "runtime/memory/plan.h"
#include "runtime/quant/ggml_type.h"
#include "runtime/vk/memory.h"

namespace vkmoe {

class Context;
class GgufFile;

struct DeviceTensor {
  std::string name;
  GgmlType type = GgmlType::F32;
  std::vector<uint64_t> shape;  // GGML order
  bool experts = false;         // stacked routed experts: split unit is one expert
  bool spilled = false;         // in host-visible system memory
  uint64_t bytes = 0;           // exact bytes (the buffer is rounded up to 16)
  uint32_t pieces = 1;          // bindings the kernels will use, as planned
  Buffer buffer;
};

struct LoadReport {
  uint64_t bytes = 0;
  double seconds = 0;
  double gb_per_s = 0;
};

// Tensors uploaded as one: the parts' bytes back to back in one buffer, stored under `name`
// (rows q | k | v of the attention projections, so one matvec computes all three). The parts
// must share a type and, when 2-D, their row width; they are then absent from the weights.
struct TensorConcat {
  std::string name;
  std::vector<std::string> parts;
};

class ModelWeights {
 public:
  // get and find record the tensor as used by the model (see require_all_used).
  const DeviceTensor& get(const std::string& name) const;  // throws naming the tensor
  const DeviceTensor* find(const std::string& name) const;
  // A tensor the model consumed in another form (deepseek2's attn_k_b / attn_v_b beside kv_b).
  void mark_used(const std::string& name) const { used_.insert(name); }
  // After binding: every tensor of the file must have been used, else the model would silently
  // run without it (an extra layer, a scale vkmoe does not apply): throws naming the first one.
  void require_all_used(const GgufFile& file) const;
  const std::map<std::string, DeviceTensor>& all() const { return tensors_; }
  LoadReport report;

 private:
  friend ModelWeights upload_weights(Context&, const GgufFile&, const MemoryPlan&, bool, const std::vector<TensorConcat>&);
  std::map<std::string, DeviceTensor> tensors_;
  mutable std::set<std::string> used_;
};

// Throws, naming the file, the tensor and its type, unless the GPU kernels compute on type t
// (lookup_only: the tensor is only read by the embedding lookup, which takes more types).
void require_kernel_type(const std::string& file, const std::string& tensor, GgmlType t, bool lookup_only = false);

// Allocates every tensor as the plan says and streams the bytes from the mapped file, with a
// progress bar on a terminal. Refuses a plan that does not fit, before allocating anything.
// Concatenations take the same bytes as their parts, so the plan's totals hold for them.
ModelWeights upload_weights(Context& ctx, const GgufFile& file, const MemoryPlan& plan, bool progress,
                            const std::vector<TensorConcat>& concat = {});

}  // namespace vkmoe
