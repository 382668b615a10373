// Text generation in a Session of a Model: feed a prompt, then sample one token at a time,
// streaming text that never splits a UTF-8 character. Shared by `vkmoe run`, `vkmoe chat` and
// the GUI.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "runtime/sampling/sampler.h"
#include "runtime/tokenizer/tokenizer.h"

namespace vkmoe {

class Model;
class Session;

struct GenerationStats {
  uint32_t prompt_tokens = 0;
  double prefill_seconds = 0;
  uint32_t generated_tokens = 0;
  double decode_seconds = 0;
  double prefill_tps() const { return prefill_seconds > 0 ? prompt_tokens / prefill_seconds : 0; }
  double decode_tps() const { return decode_seconds > 0 ? generated_tokens / decode_seconds : 0; }
};

enum class StopReason { end_of_turn, max_tokens, context_full, interrupted };

class Generator {
 public:
  // Generates in the session (its position is the generator's context length).
  Generator(Session& session, const Tokenizer& tokenizer, SamplerConfig sampler);
  // ... in the model's default session.
  Generator(Model& model, const Tokenizer& tokenizer, SamplerConfig sampler);

  // Appends tokens to the context (a prompt, or a chat turn) and runs them through the model.
  void feed(std::span<const int32_t> tokens);
  // Samples up to max_tokens (negative: until the context is full), calling on_text with each
  // complete piece of text as it is produced; the end-of-turn token itself is not printed but is
  // kept in the context so a chat can continue after it. on_token, when given, is called with
  // each sampled token right after it has run through the model, when Session::routing()
  // describes that token (the GUI's expert view).
  StopReason generate(int max_tokens, const std::function<void(const std::string&)>& on_text,
                      const std::function<void(int32_t)>& on_token = {});
  void reset();  // the session back to position 0
  // Keeps the first `position` tokens of the context and drops the rest, for a chat whose
  // template renders the last reply otherwise than the model wrote it; feed() must follow.
  void rewind(uint32_t position);
  // on_text shows control tokens too (gpt-oss's "<|channel|>"), for a caller that parses them.
  void set_render_special(bool on) { render_special_ = on; }
  // A flag another thread or a signal handler sets to stop the reply being generated: generate()
  // clears it and returns StopReason::interrupted before its next token.
  void set_interrupt(std::atomic<bool>* flag) { interrupt_ = flag; }

  uint32_t position() const;
  Session& session() const { return session_; }
  const GenerationStats& stats() const { return stats_; }
  const Sampler& sampler() const { return sampler_; }

 private:
  Session& session_;
  const Tokenizer& tok_;
  Sampler sampler_;
  std::vector<float> logits_;
  GenerationStats stats_;
  std::atomic<bool>* interrupt_ = nullptr;
  bool render_special_ = false;
};

}  // namespace vkmoe
