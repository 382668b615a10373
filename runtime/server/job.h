// A request on its way through the server's batch loop (batch_loop.h): what an HTTP thread hands
// over (the prompt's tokens, sampling, limits, stop strings) and what comes back (pieces of the
// reply as they are made, then one outcome). The model thread fills a Job; the HTTP thread waits
// on it; a mutex and a condition variable hand the pieces over. Neither side blocks the other
// for longer than a copy.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/model/generator.h"
#include "runtime/sampling/sampler.h"
#include "runtime/server/request.h"
#include "runtime/tokenizer/harmony.h"
#include "runtime/tokenizer/tokenizer.h"

namespace vkmoe {

struct JobSpec {
  std::vector<int32_t> prompt;  // at least one token, fewer than the context
  SamplerConfig sampling;
  int max_tokens = -1;          // -1: until the end of the turn or a full context
  std::vector<std::string> stop;
  bool harmony = false;         // a gpt-oss chat: control tokens rendered, the reply split into channels
};

struct JobPiece {
  ReplyChannel channel = ReplyChannel::content;
  std::string text;
};

struct JobOutcome {
  StopReason reason = StopReason::end_of_turn;
  bool stop_string = false;  // a stop string ended the reply (reason: end_of_turn)
  bool client_gone = false;  // cancelled: the client disconnected
  std::string error;         // non-empty: the model failed; nothing more comes
  uint32_t prompt_tokens = 0, cached_tokens = 0;  // cached: prompt tokens whose KV rows a slot already held
  uint32_t generated_tokens = 0;
  double prefill_seconds = 0, decode_seconds = 0;  // passes this job took part in (a batched step counts whole)
  uint32_t slot = 0;
  std::vector<int32_t> tokens;  // the sampled ids, the end-of-turn token too
  std::vector<float> margins;   // per sampled token: top-2 logit gap (tests: the near-tie rule)
};

class Job {
 public:
  explicit Job(JobSpec spec) : spec_(std::move(spec)) {}
  const JobSpec& spec() const { return spec_; }

  // HTTP side. Waits up to `timeout` for pieces or the end; moves the pieces into `out` and
  // returns true once the outcome is final (every piece has then been handed over).
  bool wait(std::vector<JobPiece>& out, std::chrono::milliseconds timeout);
  const JobOutcome& outcome() const { return outcome_; }  // after wait() returned true
  // The client is gone: the model thread frees the job's slot (or queue place) before its next step.
  void cancel() { cancelled_.store(true); }

  // Model side.
  bool cancelled() const { return cancelled_.load(); }
  void push(ReplyChannel channel, std::string text);
  void finish(JobOutcome outcome);

 private:
  const JobSpec spec_;
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<JobPiece> pieces_;
  bool done_ = false;
  JobOutcome outcome_;
};

// Turns a job's sampled tokens into reply text on the model thread: UTF-8 kept whole, a
// gpt-oss reply split into its channels, stop strings held back and never sent.
class ReplyFilter {
 public:
  ReplyFilter(const Tokenizer& tokenizer, Job& job);
  // Adds a token (not an end of turn); returns true once a stop string has come: the reply is
  // complete.
  bool push(int32_t token);
  // At the end of the reply: whatever was held back as part of a possible character or marker.
  void finish();
  bool stop_string() const { return matcher_.stopped(); }

 private:
  void content(const std::string& text);
  Job& job_;
  StreamDecoder decoder_;
  StopMatcher matcher_;
  HarmonyParser channels_;
};

}  // namespace vkmoe
