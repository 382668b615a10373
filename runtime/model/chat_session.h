// A multi-turn chat on a Generator: the history rendered with the model's chat template, fed a
// turn at a time (only what the template adds since the last turn: the KV cache keeps the
// rest). Shared by `vkmoe chat`, the chat worker and so the vkmoe-chat window.
//
// gpt-oss (ChatFormat::Harmony) replies on channels: only the final channel is the reply's text;
// the analysis channel comes apart as reasoning (runtime/tokenizer/harmony.h).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/model/generator.h"
#include "runtime/tokenizer/chat_template.h"

namespace vkmoe {

struct ChatCallbacks {
  std::function<void(const std::string&)> text;       // the reply, piece by piece
  std::function<void(const std::string&)> reasoning;  // gpt-oss's analysis, piece by piece
  std::function<void(int32_t)> token;                 // each token once it has run (Generator's on_token)
};

class ChatSession {
 public:
  // system: an optional system message that stays across reset().
  ChatSession(Generator& generator, const Tokenizer& tokenizer, ChatFormat format,
              std::string system = {});

  // Adds the user's message, runs it through the model and generates the reply (max_tokens as
  // in Generator::generate), which joins the history. When feeding fails (e.g. the context is
  // too small) the message is dropped again and the exception passes on.
  StopReason turn(const std::string& message, int max_tokens, const ChatCallbacks& callbacks);
  StopReason turn(const std::string& message, int max_tokens,
                  const std::function<void(const std::string&)>& on_text,
                  const std::function<void(int32_t)>& on_token = {}) {
    return turn(message, max_tokens, ChatCallbacks{on_text, {}, on_token});
  }
  // Starts over: the history keeps only the system message, the generator its empty context.
  void reset();

  const std::vector<ChatMessage>& history() const { return history_; }

 private:
  void feed_history();
  StopReason generate(int max_tokens, const ChatCallbacks& callbacks, ChatMessage& reply);

  Generator& gen_;
  const Tokenizer& tok_;
  ChatFormat format_;
  std::vector<ChatMessage> history_;
  size_t system_messages_ = 0;
  // The template text in the KV cache, when known exactly (after a reply that ended its turn).
  std::string rendered_;
  // The text fed before the last reply, ending with the generation prompt, and the context
  // position after it: where to go back to when the template renders that reply otherwise
  // (gpt-oss drops its analysis; a reply cut short gets its end).
  std::string prompt_;
  uint32_t prompt_pos_ = 0;
};

}  // namespace vkmoe
