// The conversation panel (after Dear ImGui's ExampleAppConsole): the history, the reply as it
// streams in, and the input line with Send and Reset.
#pragma once
#include <string>
#include <vector>

#include "runtime/tokenizer/chat_template.h"

namespace vkmoe {

class ChatPanel {
 public:
  enum class Action { none, send, reset };

  // Draws into the current window; returns what the user asked for, the message in *message.
  // can_send: false while a reply is being written or the model is loading.
  Action draw(bool can_send, std::string* message);

  // role: "user", "assistant", "note" (grey) or "error" (red).
  void add(std::string role, std::string text);
  // Continues the reply being written, starting one after the user's message.
  void append_reply(const std::string& text);
  // The same for the model's reasoning (gpt-oss), shown grey above its reply.
  void append_reasoning(const std::string& text);
  void clear();

 private:
  void append(const std::string& role, const std::string& text);
  std::vector<ChatMessage> messages_;
  char input_[4096] = {};
  bool scroll_to_bottom_ = false;
  bool focus_input_ = true;
};

}  // namespace vkmoe
