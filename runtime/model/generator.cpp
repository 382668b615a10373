#include "runtime/model/generator.h"

#include <chrono>
#include <stdexcept>

#include "runtime/model/model.h"

namespace vkmoe {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

Generator::Generator(Session& session, const Tokenizer& tokenizer, SamplerConfig sampler)
    : session_(session), tok_(tokenizer), sampler_(sampler) {}

Generator::Generator(Model& model, const Tokenizer& tokenizer, SamplerConfig sampler)
    : Generator(model.default_session(), tokenizer, sampler) {}

uint32_t Generator::position() const { return session_.position(); }

void Generator::feed(std::span<const int32_t> tokens) {
  if (tokens.empty()) return;
  const uint32_t pos = session_.position();
  if (pos + tokens.size() > session_.n_ctx())
    throw std::out_of_range("the prompt needs " + std::to_string(pos + tokens.size()) + " tokens of context, more than -c " +
                            std::to_string(session_.n_ctx()));
  auto t0 = std::chrono::steady_clock::now();
  logits_ = session_.model().forward(session_, tokens);
  stats_.prefill_seconds += seconds_since(t0);
  stats_.prompt_tokens += static_cast<uint32_t>(tokens.size());
  for (int32_t t : tokens) sampler_.accept(t);
}

StopReason Generator::generate(int max_tokens, const std::function<void(const std::string&)>& on_text,
                               const std::function<void(int32_t)>& on_token) {
  if (logits_.empty()) throw std::logic_error("generate() before feed()");
  StreamDecoder decoder(tok_, render_special_);
  for (int n = 0; max_tokens < 0 || n < max_tokens; ++n) {
    if (interrupt_ && interrupt_->exchange(false)) {
      if (auto text = decoder.flush(); !text.empty() && on_text) on_text(text);
      return StopReason::interrupted;
    }
    const int32_t next = sampler_.sample(logits_);
    const bool end = tok_.is_end_of_turn(next);
    if (!end) {
      if (auto text = decoder.push(next); !text.empty() && on_text) on_text(text);
    }
    if (session_.position() >= session_.n_ctx()) {
      if (auto text = decoder.flush(); !text.empty() && on_text) on_text(text);
      return StopReason::context_full;
    }
    // The sampled token joins the context (the end-of-turn token too, for the next chat turn).
    auto t0 = std::chrono::steady_clock::now();
    logits_ = session_.model().forward(session_, std::span<const int32_t>(&next, 1));
    stats_.decode_seconds += seconds_since(t0);
    ++stats_.generated_tokens;
    if (on_token) on_token(next);
    if (end) {
      if (auto text = decoder.flush(); !text.empty() && on_text) on_text(text);
      return StopReason::end_of_turn;
    }
  }
  if (auto text = decoder.flush(); !text.empty() && on_text) on_text(text);
  return StopReason::max_tokens;
}

void Generator::rewind(uint32_t position) {
  if (position > session_.position())
    throw std::logic_error("rewind to position " + std::to_string(position) + " past the context's " +
                           std::to_string(session_.position()));
  session_.set_position(position);
  logits_.clear();
}

void Generator::reset() {
  sampler_.clear_history();
  session_.reset();
  logits_.clear();
  stats_ = {};
}

}  // namespace vkmoe
