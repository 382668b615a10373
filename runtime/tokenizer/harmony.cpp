#include "runtime/tokenizer/harmony.h"

#include <algorithm>
#include <array>
#include <span>

namespace vkmoe {
namespace {

constexpr std::string_view kStart = "<|start|>", kChannel = "<|channel|>", kMessage = "<|message|>",
                           kEnd = "<|end|>", kReturn = "<|return|>", kCall = "<|call|>";
// What ends a message's body: <|end|>, the turn's end, or (when the model leaves out <|end|>) the
// next message's header.
constexpr std::array<std::string_view, 4> kBodyMarkers = {kEnd, kReturn, kCall, kStart};

// The first of markers in text: its position (npos when none) and which one.
std::pair<size_t, std::string_view> find_first(std::string_view text, std::span<const std::string_view> markers) {
  std::pair<size_t, std::string_view> best{std::string_view::npos, {}};
  for (std::string_view m : markers)
    if (size_t at = text.find(m); at < best.first) best = {at, m};
  return best;
}

// How many bytes at the end of text could begin one of markers (and so must wait for more).
size_t partial_marker(std::string_view text, std::span<const std::string_view> markers) {
  for (size_t k = std::min<size_t>(text.size(), 9); k > 0; --k) {
    const std::string_view tail = text.substr(text.size() - k);
    for (std::string_view m : markers)
      if (m.size() > k && m.substr(0, k) == tail) return k;
  }
  return 0;
}

bool may_open_header(std::string_view text) {
  for (std::string_view m : {kChannel, kStart})
    if (text.starts_with(m) || m.starts_with(text)) return true;
  return false;
}

// A header is what precedes <|message|>: "<|channel|>final", "<|start|>assistant<|channel|>analysis",
// "<|channel|>commentary to=functions.f <|constrain|>json", "<|start|>assistant to=functions.f<|channel|>...".
ReplyChannel classify(std::string_view header) {
  if (size_t s = header.rfind(kStart); s != std::string_view::npos) header.remove_prefix(s + kStart.size());
  if (header.find("to=") != std::string_view::npos) return ReplyChannel::hidden;  // a tool call
  const size_t c = header.find(kChannel);
  if (c == std::string_view::npos) return ReplyChannel::hidden;
  std::string_view name = header.substr(c + kChannel.size());
  name = name.substr(0, name.find_first_of(" <"));
  if (name == "analysis") return ReplyChannel::reasoning;
  if (name == "final" || name == "commentary") return ReplyChannel::content;
  return ReplyChannel::hidden;
}

}  // namespace

void HarmonyParser::push(std::string_view text) {
  if (state_ == State::ended) return;
  buffer_.append(text);
  for (State before = state_;; before = state_) {
    if (state_ == State::header) push_header();
    else if (state_ == State::body) push_body();
    if (state_ == State::ended) buffer_.clear();
    if (state_ == before) return;
  }
}

void HarmonyParser::finish() {
  // An unfinished header opens nothing; held-back body text was not a marker after all.
  if (state_ == State::body) emit(buffer_);
  buffer_.clear();
}

void HarmonyParser::push_header() {
  static constexpr std::array<std::string_view, 3> kHeaderEnds = {kMessage, kReturn, kCall};
  const auto [at, marker] = find_first(buffer_, kHeaderEnds);
  if (at != std::string_view::npos) {
    if (marker != kMessage) {
      state_ = State::ended;
      return;
    }
    open_message(std::string_view(buffer_).substr(0, at));
    buffer_.erase(0, at + kMessage.size());
    state_ = State::body;
  } else if (!started_ && !may_open_header(buffer_)) {
    // No header at all: the model answered in plain text.
    started_ = replied_ = true;
    channel_ = ReplyChannel::content;
    state_ = State::body;
  }
}

void HarmonyParser::push_body() {
  const auto [at, marker] = find_first(buffer_, kBodyMarkers);
  if (at == std::string_view::npos) {
    const size_t ready = buffer_.size() - partial_marker(buffer_, kBodyMarkers);
    emit(std::string_view(buffer_).substr(0, ready));
    buffer_.erase(0, ready);
    return;
  }
  emit(std::string_view(buffer_).substr(0, at));
  if (marker == kReturn || marker == kCall) {
    state_ = State::ended;
    return;
  }
  // <|start|> stays: it opens the next header.
  buffer_.erase(0, at + (marker == kEnd ? marker.size() : 0));
  state_ = State::header;
}

void HarmonyParser::open_message(std::string_view header) {
  started_ = true;
  channel_ = classify(header);
  if (channel_ == ReplyChannel::content) replied_ = true;
}

void HarmonyParser::emit(std::string_view text) {
  if (!text.empty()) sink_(channel_, text);
}

}  // namespace vkmoe
