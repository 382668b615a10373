// A model ready to run on the GPU: the thin owner of three parts.
//  - Weights (weights.h): file, config, resident tensors bound per layer and block; immutable
//    after load, shared by every conversation.
//  - Engine (engine.h): activation buffers for one batch, MoE scratch, the command sequence, the
//    profiler; pipelines are the Context's.
//  - the planned KV caches that Sessions (session.h) take, one per conversation.
// Each call to forward() records one Sequence per batch of tokens and submits it as one unit:
// no CPU round trip per layer.
//
// Two ways to run it:
//  - Sessions: forward(session, tokens) runs a conversation at its own position;
//    decode(sessions, tokens) runs one token of each of several sessions as one batch (what a
//    server's slots need: the expert weights are read once for all of them).
//  - The default session, for a single conversation (the CLI, the GUI, most tests):
//    forward(tokens, pos), routing(), reset_stats(). It is one of the n_parallel sessions,
//    taken on first use.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <span>
#include <string>
#include <vector>

#include "runtime/blocks/block.h"
#include "runtime/gguf/gguf_reader.h"
#include "runtime/memory/plan.h"
#include "runtime/memory/tally.h"
#include "runtime/model/engine.h"
#include "runtime/model/model_config.h"
#include "runtime/model/model_weights.h"
#include "runtime/model/session.h"

namespace vkmoe {

class Context;
class Weights;

struct ModelOptions {
  uint32_t n_ctx = 4096;    // KV cache length (-c)
  uint32_t n_batch = 256;   // tokens per prefill batch
  uint32_t n_parallel = 1;  // sessions (-np), each with its own KV cache of n_ctx
  uint64_t mem_budget = 0;  // --mem-budget
  bool spill = false;       // --spill
  bool progress = true;     // progress bar while loading (on a terminal)
  bool expert_stats = true; // keep each session's per-layer routing (ids and counts) for views and statistics
  bool profile = false;     // time every dispatch (also VKMOE_PROFILE=1); see profile_report()
  bool warm_up = true;      // run one token at load so first-use shader compilation (seconds on
                            // lavapipe) is not counted as prefill time
  // Tests: changes the config read from the file before anything is planned, to bring constants
  // llama.cpp fixes (llama4's 8192-token chunks) within a test's reach; the reference gets the same.
  std::function<void(ModelConfig&)> adjust_config;
};

class Model {
 public:
  Model(Context& ctx, GgufFile file, ModelOptions options);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelConfig& config() const;
  const GgufFile& file() const;
  const MemoryPlan& plan() const { return plan_; }
  const LoadReport& load_report() const;
  const Weights& weights() const { return *weights_; }
  uint32_t n_ctx() const { return opt_.n_ctx; }
  // Bytes the allocator took for this model, per category (staging belongs to the Context).
  uint64_t allocated_bytes(MemoryCategory c) const;
  struct MemoryRow {
    std::string category;  // category_name(), or "total"
    uint64_t planned = 0, allocated = 0;
  };
  // Planned against allocated bytes per category, then the total (inspect --load, plan_alloc_test).
  std::vector<MemoryRow> memory_rows() const;

  uint32_t n_parallel() const { return opt_.n_parallel; }
  // Tokens one pass holds: max(n_batch, n_parallel); decode() takes at most this many sessions.
  uint32_t max_batch() const { return plan_.layout.n_batch; }
  // Sessions that can still be created (n_parallel minus those alive, the default one included).
  uint32_t free_sessions() const;

  // Runs tokens in the session at positions position() .. position() + n - 1 (its cache holds
  // the rows before), advances its position by n and returns logits of the last position
  // ([n_vocab]) or of every position ([n, n_vocab]). More than n_batch tokens run as several
  // passes.
  std::vector<float> forward(Session& session, std::span<const int32_t> tokens, LogitsMode mode = LogitsMode::last);
  // One decode step of several sessions as one pass: tokens[i] runs in sessions[i] at its
  // position, which advances by one. The embedding, every matmul, the router and the experts
  // run once with T = n tokens (each expert's weights are read once for the whole batch); the
  // cache store and attention run per session, on its own cache at its own position. Returns
  // [n, n_vocab] logits, row i for sessions[i]. Sessions must be distinct and of this model,
  // 1 <= n <= max_batch(). Results equal each session's own forward() up to rounding: the
  // T = n matmuls may sum in another order than T = 1 (session_test states the bound).
  std::vector<float> decode(std::span<Session* const> sessions, std::span<const int32_t> tokens);

  // The default session: created on first use (one of the n_parallel caches).
  Session& default_session();
  // The default session at positions pos .. pos + n - 1 (its cache must hold 0 .. pos - 1).
  std::vector<float> forward(std::span<const int32_t> tokens, uint32_t pos, LogitsMode mode = LogitsMode::last);
  // The default session's routing (empty before it exists).
  RoutingSnapshot routing() const;
  // Per-kernel GPU time summed over every forward call so far (when profiling).
  std::string profile_report() const { return engine_->profile_report(); }
  // The same as rows, largest first; and switching per-dispatch timing on or off from the next
  // forward call (bench model times decode without it, then profiles a step), clearing the sums.
  using KernelProfile = vkmoe::KernelProfile;
  std::vector<KernelProfile> profile_rows() const { return engine_->profile_rows(); }
  void set_profile(bool on);
  void reset_stats();  // the default session's
  uint32_t last_dispatches() const { return engine_->last_dispatches(); }
  // Tokens per pass from which the MoE layers take their batched path (decode() of that many
  // sessions too): the device's crossover for this model's k / experts.
  uint32_t moe_batched_from() const { return engine_->moe_batched_from(); }

 private:
  friend class Session;
  std::vector<Buffer> take_kv(uint32_t& slot);  // session.cpp
  void return_kv(uint32_t slot, std::vector<Buffer> buffers);

  Context& ctx_;
  ModelOptions opt_;
  MemoryPlan plan_;
  MemoryTally tally_;
  std::unique_ptr<Weights> weights_;
  std::unique_ptr<Engine> engine_;
  std::vector<std::vector<Buffer>> kv_pool_;  // per planned session: K, V per layer; empty while taken
  std::unique_ptr<Session> default_;
};

}  // namespace vkmoe
