#include "runtime/model/chat_session.h"

namespace vkmoe {

ChatSession::ChatSession(Generator& generator, const Tokenizer& tokenizer, ChatFormat format,
                         std::string system)
    : gen_(generator), tok_(tokenizer), format_(format) {
  if (!system.empty()) history_.push_back({"system", std::move(system)});
  system_messages_ = history_.size();
}

StopReason ChatSession::turn(const std::string& message, int max_tokens,
                             const std::function<void(const std::string&)>& on_text,
                             const std::function<void(int32_t)>& on_token) {
  history_.push_back({"user", message});
  try {
    std::string full = apply_chat_template(format_, history_, /*add_generation_prompt=*/true);
    std::string delta =
        full.compare(0, rendered_.size(), rendered_) == 0 ? full.substr(rendered_.size()) : full;
    if (delta.size() == full.size() && !rendered_.empty())
      gen_.reset();  // the template rewrote history
    gen_.feed(tok_.encode(delta, /*add_special=*/gen_.position() == 0, /*parse_special=*/true));
  } catch (...) {
    history_.pop_back();
    throw;
  }
  std::string reply;
  auto reason = gen_.generate(
      max_tokens,
      [&](const std::string& t) {
        reply += t;
        if (on_text) on_text(t);
      },
      on_token);
  history_.push_back({"assistant", reply});
  // What the model saw: the template up to its generation prompt, then its own reply tokens.
  rendered_ = apply_chat_template(format_, history_, false);
  return reason;
}

void ChatSession::reset() {
  history_.resize(system_messages_);
  gen_.reset();
  rendered_.clear();
}

}  // namespace vkmoe
