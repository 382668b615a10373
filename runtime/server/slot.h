// One of the server's slots: a Session (its own KV cache) and the job it runs, if any. Between
// jobs a slot keeps its cache and the tokens in it, so a request that repeats a conversation's
// start (a chat's earlier turns, a shared system prompt) prefills only what is new.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "runtime/model/session.h"
#include "runtime/sampling/sampler.h"
#include "runtime/server/job.h"

namespace vkmoe {

struct Slot {
  Slot(Model& model, uint32_t index) : session(model), index(index) {}

  Session session;
  const uint32_t index;
  std::vector<int32_t> cached;  // the tokens whose KV rows the session holds: cached.size() == position()

  // The job running here (null: the slot is free) and its progress.
  std::shared_ptr<Job> job;
  uint64_t admitted = 0;          // admission order
  std::optional<Sampler> sampler;
  std::unique_ptr<ReplyFilter> filter;
  size_t prefilled = 0;           // prompt tokens in the cache
  int32_t pending = -1;           // a sampled token to run in the next decode step; -1: none
  JobOutcome out;

  bool prefilling() const { return job && prefilled < job->spec().prompt.size(); }
  // Takes a job: keeps the longest cached prefix of its prompt (all but its last token, whose
  // logits are needed) and resets the per-job state.
  void start(std::shared_ptr<Job> next, uint64_t order);
};

// The length of the longest common prefix of a and b.
size_t common_prefix(std::span<const int32_t> a, std::span<const int32_t> b);

// A free slot's cached prefix is reused when it covers at least this share of the prompt (like
// llama-server's --slot-prompt-similarity): a chat's next turn shares far more.
constexpr double kReuseShare = 0.5;

// The free slot (no job) to give `prompt`: the one whose cached tokens share the longest prefix
// with it (the lowest index among equals) when that covers kReuseShare of it; else the one with
// the fewest cached tokens, so the others keep theirs for a later request. -1 when none is free.
int best_free_slot(std::span<const std::unique_ptr<Slot>> slots, std::span<const int32_t> prompt);

}  // namespace vkmoe
