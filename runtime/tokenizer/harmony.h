// gpt-oss's replies in OpenAI's harmony format, split into channels as they stream:
//
//   <|channel|>analysis<|message|>thinking...<|end|><|start|>assistant<|channel|>final<|message|>answer
//
// followed by <|return|> (or <|call|>, a tool call) to end the turn. The text comes token by
// token with the special tokens rendered, so a marker or a channel header may arrive split
// across any number of pushes; nothing is passed on until it is known not to be part of one.
//
// Which channel goes where follows llama.cpp's gpt-oss parser (common/chat.cpp): analysis is
// reasoning; final, and commentary without a recipient (a preamble), are the reply; a tool call
// (" to=functions.NAME") and an unknown channel are neither. A reply that does not open with a
// header at all is taken as plain reply text.
#pragma once
#include <functional>
#include <string>
#include <string_view>

namespace vkmoe {

enum class ReplyChannel {
  content,    // the reply the user sees
  reasoning,  // the analysis channel
  hidden,     // tool calls, unknown channels, headers without a channel
};

class HarmonyParser {
 public:
  using Sink = std::function<void(ReplyChannel, std::string_view)>;
  explicit HarmonyParser(Sink sink) : sink_(std::move(sink)) {}

  // Adds generated text; the sink gets each piece as soon as it is certain.
  void push(std::string_view text);
  // The end of generation: text held back as a possible marker is passed on.
  void finish();

  // <|return|> or <|call|> came: the turn is over and further text is ignored.
  bool ended() const { return state_ == State::ended; }
  // Some reply text began: a final or preamble message, or plain text.
  bool replied() const { return replied_; }

 private:
  enum class State { header, body, ended };
  void push_header();
  void push_body();
  void open_message(std::string_view header);
  void emit(std::string_view text);

  Sink sink_;
  State state_ = State::header;
  ReplyChannel channel_ = ReplyChannel::hidden;
  std::string buffer_;   // header text so far, or body text held back as a possible marker
  bool started_ = false; // a message (or plain text) has begun
  bool replied_ = false;
};

}  // namespace vkmoe
