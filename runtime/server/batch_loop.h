// The server's model thread: N slots, each a Session with its own KV cache, served by one loop
// that owns the Model. Each turn of the loop
//   1. admits queued jobs into free slots (the free slot whose cache shares the longest prefix
//      with the prompt: only the rest is prefilled),
//   2. prefills at most n_batch prompt tokens in all (a long prompt takes several turns, so the
//      streams already running are not held up for it),
//   3. runs ONE batched decode step (Model::decode) of every slot that has a token to run: the
//      expert weights are read once for all of them,
//   4. samples each slot with its own sampler and hands its text to its job.
// A job finishes at its end of turn, a stop string, max_tokens or a full context; a cancelled
// job (its client is gone) frees its slot before the next step. Jobs beyond the free slots wait
// in a bounded queue: submit() refuses past it (the server's 503).
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/model/model.h"
#include "runtime/server/job.h"
#include "runtime/server/slot.h"
#include "runtime/tokenizer/tokenizer.h"

namespace vkmoe {

struct BatchLoopOptions {
  uint32_t slots = 1;      // at most the model's n_parallel
  uint32_t max_queue = 16; // jobs waiting for a slot
  uint32_t n_batch = 256;  // prompt tokens prefilled per turn of the loop, over all slots
};

// What /metrics shows; a copy taken under the loop's lock.
struct BatchStats {
  uint32_t slots = 0, queued = 0, active = 0, most_active = 0;  // most_active: high-water mark
  std::vector<uint32_t> slot_cells;  // per slot: KV cache rows holding tokens (kept for prefix reuse)
  uint64_t requests = 0, prompt_tokens = 0, cached_tokens = 0, generated_tokens = 0;
  uint64_t decode_steps = 0, batched_steps = 0, step_tokens = 0;  // batched: steps of more than one slot
  uint32_t largest_step = 0;
  double prefill_seconds = 0, decode_seconds = 0;  // wall time of prefill passes and decode steps
  RoutingSnapshot routing;  // counts: summed over the slots since load
};

class BatchLoop {
 public:
  // Creates the slots' sessions (model.free_sessions() must cover them) and starts the thread,
  // which from then on is the only one to run the model.
  BatchLoop(Model& model, const Tokenizer& tokenizer, BatchLoopOptions options);
  // Stops after the current step; jobs not finished get an error.
  ~BatchLoop();
  BatchLoop(const BatchLoop&) = delete;
  BatchLoop& operator=(const BatchLoop&) = delete;

  // Queues a job; false when max_queue jobs already wait (cancelled ones do not count).
  bool submit(std::shared_ptr<Job> job);
  BatchStats stats() const;
  const BatchLoopOptions& options() const { return opt_; }

 private:
  void run();
  void admit_locked();
  void drop_cancelled();
  void prefill_turn();
  void decode_turn();
  // Samples the slot's next token from logits, hands its text over and either finishes the job
  // or leaves the token pending for the next decode step.
  void take_token(Slot& slot, std::span<const float> logits);
  void finish(Slot& slot, StopReason reason, std::string error = {});
  void fail(Slot& slot, const std::exception& e);
  void publish();

  Model& model_;
  const Tokenizer& tok_;
  const BatchLoopOptions opt_;
  std::vector<std::unique_ptr<Slot>> slots_;  // touched by the model thread only (after construction)
  uint64_t admitted_ = 0;                     // admission order, for fair prefill
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> queue_;
  BatchStats stats_;
  bool stop_ = false;
  std::thread thread_;  // last: starts after every member it uses exists
};

}  // namespace vkmoe
