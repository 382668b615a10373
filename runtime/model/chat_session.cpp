#include "runtime/model/chat_session.h"

#include "runtime/model/session.h"
#include "runtime/tokenizer/harmony.h"

namespace vkmoe {

ChatSession::ChatSession(Generator& generator, const Tokenizer& tokenizer, ChatFormat format,
                         std::string system)
    : gen_(generator), tok_(tokenizer), format_(format) {
  if (!system.empty()) history_.push_back({"system", std::move(system)});
  system_messages_ = history_.size();
  // The channel markers are control tokens: the parser needs to see them.
  if (format_ == ChatFormat::Harmony) gen_.set_render_special(true);
}

StopReason ChatSession::turn(const std::string& message, int max_tokens, const ChatCallbacks& callbacks) {
  history_.push_back({"user", message});
  try {
    feed_history();
  } catch (...) {
    history_.pop_back();
    throw;
  }
  ChatMessage reply{"assistant", {}};
  const StopReason reason = generate(max_tokens, callbacks, reply);
  history_.push_back(std::move(reply));
  // What the model saw when it ended its turn: the template up to its generation prompt, then
  // its own reply tokens. Otherwise the reply lacks its end: the next turn goes back to prompt_.
  rendered_ = reason == StopReason::end_of_turn ? apply_chat_template(format_, history_, false) : std::string();
  return reason;
}

// Feeds what the history's rendering adds to the context, from the furthest point the context
// still agrees with.
void ChatSession::feed_history() {
  const std::string full = apply_chat_template(format_, history_, /*add_generation_prompt=*/true);
  std::string delta = full;
  if (gen_.position() > 0 && !rendered_.empty() && full.starts_with(rendered_)) {
    delta = full.substr(rendered_.size());
  } else if (gen_.position() > 0 && !prompt_.empty() && full.starts_with(prompt_) &&
             gen_.session().resumable(prompt_pos_) == prompt_pos_) {
    gen_.rewind(prompt_pos_);
    rendered_ = prompt_;
    delta = full.substr(prompt_.size());
  } else if (gen_.position() > 0) {
    gen_.reset();  // the template rewrote history
    rendered_.clear();
    prompt_.clear();
  }
  gen_.feed(tok_.encode(delta, /*add_special=*/gen_.position() == 0, /*parse_special=*/true));
  prompt_ = full;
  prompt_pos_ = gen_.position();
}

StopReason ChatSession::generate(int max_tokens, const ChatCallbacks& callbacks, ChatMessage& reply) {
  auto on_content = [&](const std::string& t) {
    reply.content += t;
    if (callbacks.text) callbacks.text(t);
  };
  if (format_ != ChatFormat::Harmony) return gen_.generate(max_tokens, on_content, callbacks.token);
  HarmonyParser parser([&](ReplyChannel channel, std::string_view t) {
    if (channel == ReplyChannel::content) {
      on_content(std::string(t));
    } else if (channel == ReplyChannel::reasoning) {
      reply.reasoning += t;
      if (callbacks.reasoning) callbacks.reasoning(std::string(t));
    }
  });
  const StopReason reason = gen_.generate(max_tokens, [&](const std::string& t) { parser.push(t); }, callbacks.token);
  parser.finish();
  return reason;
}

void ChatSession::reset() {
  history_.resize(system_messages_);
  gen_.reset();
  rendered_.clear();
  prompt_.clear();
}

}  // namespace vkmoe
