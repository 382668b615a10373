// Engine: what running a pass needs besides the weights and the sessions' caches. The
// activation buffers of one batch (allocated from the plan's ActivationLayout, byte for byte),
// the MoE scratch, the command Sequence (one, reused for the model's life), the profiler and the
// dispatch count; the pipelines are the Context's. One Engine runs one pass at a time: a pass is
// T tokens of one session, or one token of each of several sessions (Model::decode), recorded
// as the embedding, each layer's blocks as its LayerSpec lists them, and the head.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "runtime/blocks/block.h"
#include "runtime/memory/tally.h"

namespace vkmoe {

class Context;
class Sequence;
class Weights;

struct KernelProfile {
  std::string kernel;
  uint64_t calls = 0;
  double ms = 0;
};

struct EngineOptions {
  bool profile = false;       // time every dispatch
  bool expert_stats = true;   // read each pass's routing back into its sessions
};

class Engine {
 public:
  Engine(Context& ctx, const Weights& weights, const ActivationLayout& layout, EngineOptions options, MemoryTally& tally);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // The strides and position slots of a pass over these parts (see Pass).
  Pass make_pass(std::vector<PassPart> parts, LogitsMode mode) const;
  // Uploads, records, runs; returns the logits of the pass's rows (mode last: of its last row),
  // or nothing when they are not wanted (a prefill batch before the last). Reads each session's
  // routing back (expert_stats).
  std::vector<float> run_pass(const Pass& pass, std::span<const int32_t> tokens, bool want_logits);

  uint32_t last_dispatches() const { return last_dispatches_; }
  uint32_t moe_batched_from() const { return act_.moe.settings.batched_from_tokens; }
  std::string profile_report() const;
  std::vector<KernelProfile> profile_rows() const;
  void set_profile(bool on);  // from the next pass, clearing the sums
  void clear_profile();

 private:
  // layers < n_layer: only the embedding and that many layers, no head (nan_check.cpp).
  void record_pass(Sequence& seq, const Pass& pass, uint32_t layers = UINT32_MAX);
  void record_layer(Sequence& seq, const Pass& pass, uint32_t l);
  void record_head(Sequence& seq, const Pass& pass);
  // nan_check.cpp: throws naming the first layer whose output is not finite when the logits of
  // the pass just run hold NaN or Inf.
  void check_finite(std::span<const float> logits, const Pass& pass);
  void collect_routing(const Pass& pass);  // session.cpp

  Context& ctx_;
  const Weights& w_;
  const ModelConfig& cfg_;
  const ActivationLayout& lay_;
  EngineOptions opt_;
  Activations act_;
  std::unique_ptr<Sequence> seq_;
  struct KernelTime {
    uint64_t calls = 0;
    double ms = 0;
  };
  std::map<std::string, KernelTime> profile_;
  double profile_wall_ms_ = 0;
  uint32_t last_dispatches_ = 0;
};

}  // namespace vkmoe
