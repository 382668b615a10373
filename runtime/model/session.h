// One conversation on a loaded Model: its own KV cache, its position and its routing
// statistics. Many sessions share one model's weights and engine (pipelines, activations, the
// command sequence); Model::forward(Session&, ...) runs one of them, Model::decode(...) one
// token of each of several as a single batch. A server holds one Session per slot.
//
// The KV caches are allocated at load, n_parallel (-np) of them (the memory plan counts exactly
// those): a Session takes one for its lifetime and gives it back when destroyed, so creating
// and dropping sessions allocates nothing. Creating one more than planned throws, naming -np.
// A Session must not outlive its Model. Neither is thread-safe: one thread runs a model.
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/kernels/transformer_ops.h"
#include "runtime/vk/memory.h"

namespace vkmoe {

class Model;

// Routing of the last token a session ran, and token counts per expert.
struct RoutingSnapshot {
  uint32_t layers = 0, k = 0, experts = 0;
  std::vector<uint32_t> ids;       // [layers, k] experts chosen for the last token (kMoeEmptySlot: none, a dense layer)
  std::vector<float> weights;      // [layers, k]
  std::vector<uint32_t> counts;    // [layers, experts] tokens routed since reset_stats()
};

class Session {
 public:
  // Takes one of the model's planned KV caches; throws std::runtime_error when all are in use.
  explicit Session(Model& model);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  Model& model() const { return model_; }
  // Cache rows 0 .. position() - 1 hold this conversation; the next token runs at position().
  uint32_t position() const { return pos_; }
  uint32_t n_ctx() const;
  // Moves the position back (or forward over rows this session already wrote): the rows from
  // there on are overwritten by the next forward. reset() is set_position(0).
  // Throws std::runtime_error when the sliding-window layers' rings no longer hold what pos needs
  // (resumable(pos) != pos).
  void set_position(uint32_t pos);
  // pos when a forward from pos would see every key it needs, else 0 (rewinding further back than
  // a ring holds: those rows are overwritten; the caller runs the tokens again from 0).
  uint32_t resumable(uint32_t pos) const;
  void reset() { set_position(0); }

  // Empty ids/weights until a token has run, or with ModelOptions::expert_stats off.
  const RoutingSnapshot& routing() const { return routing_; }
  void reset_stats();

  // This session's cache of layer l (tests compare caches).
  const KvCacheLayer& kv(uint32_t layer) const { return kv_.at(layer); }

 private:
  friend class Model;
  friend class Engine;  // collect_routing
  Model& model_;
  uint32_t slot_ = 0;               // which of the model's planned caches
  std::vector<Buffer> buffers_;     // K and V per layer, taken from the model's pool
  std::vector<KvCacheLayer> kv_;    // per layer, over buffers_
  uint32_t pos_ = 0;
  RoutingSnapshot routing_;
  // Rings (ModelConfig window layers): their rows, the largest window, and the first position
  // whose keys they still hold (every position from there up to the last written).
  uint32_t ring_ = 0, window_ = 0, held_from_ = 0;
  void wrote(uint32_t end);  // positions up to end - 1 were just stored
};

}  // namespace vkmoe
