// A multi-turn chat on a Generator: the history rendered with the model's chat template, fed a
// turn at a time (only what the template adds since the last turn: the KV cache keeps the
// rest). Shared by `vkmoe chat` and the vkmoe-chat window.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/model/generator.h"
#include "runtime/tokenizer/chat_template.h"

namespace vkmoe {

class ChatSession {
 public:
  // system: an optional system message that stays across reset().
  ChatSession(Generator& generator, const Tokenizer& tokenizer, ChatFormat format,
              std::string system = {});

  // Adds the user's message, runs it through the model and generates the reply (max_tokens as
  // in Generator::generate), which joins the history. When feeding fails (e.g. the context is
  // too small) the message is dropped again and the exception passes on.
  StopReason turn(const std::string& message, int max_tokens,
                  const std::function<void(const std::string&)>& on_text,
                  const std::function<void(int32_t)>& on_token = {});
  // Starts over: the history keeps only the system message, the generator its empty context.
  void reset();

  const std::vector<ChatMessage>& history() const { return history_; }

 private:
  Generator& gen_;
  const Tokenizer& tok_;
  ChatFormat format_;
  std::vector<ChatMessage> history_;
  size_t system_messages_ = 0;
  std::string rendered_;  // the template text already fed to the model
};

}  // namespace vkmoe
