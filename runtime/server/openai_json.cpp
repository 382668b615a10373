#include "runtime/server/openai_json.h"

#include <nlohmann/json.hpp>

namespace vkmoe {

using nlohmann::json;

namespace {
// Generated text may hold bytes that are not UTF-8 (a byte token): they become U+FFFD rather
// than an exception.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt},
          {"completion_tokens", u.completion},
          {"total_tokens", u.prompt + u.completion},
          {"prompt_tokens_details", {{"cached_tokens", u.cached}}}};
}

json envelope(const ResponseInfo& info, const char* object) {
  return {{"id", info.id}, {"object", object}, {"created", info.created}, {"model", info.model}};
}
}  // namespace

const char* finish_reason(StopReason reason, bool stop_string) {
  if (stop_string || reason == StopReason::end_of_turn) return "stop";
  return "length";
}

std::string completion_json(const ResponseInfo& info, const std::string& text, const char* finish, const Usage& usage,
                            const std::string& reasoning) {
  json j = envelope(info, info.chat ? "chat.completion" : "text_completion");
  json choice = {{"index", 0}, {"finish_reason", finish}};
  if (info.chat) choice["message"] = {{"role", "assistant"}, {"content", text}};
  if (info.chat && !reasoning.empty()) choice["message"]["reasoning_content"] = reasoning;
  else choice["text"] = text, choice["logprobs"] = nullptr;
  j["choices"] = json::array({choice});
  j["usage"] = usage_json(usage);
  return dump(j);
}

std::string chunk_json(const ResponseInfo& info, const std::string& text, bool first, const char* finish,
                       const Usage& usage, bool reasoning) {
  json j = envelope(info, info.chat ? "chat.completion.chunk" : "text_completion");
  json choice = {{"index", 0}, {"finish_reason", finish ? json(finish) : json(nullptr)}};
  if (info.chat) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (!finish) delta[reasoning ? "reasoning_content" : "content"] = text;
    choice["delta"] = delta;
  } else {
    choice["text"] = text, choice["logprobs"] = nullptr;
  }
  j["choices"] = json::array({choice});
  if (finish) j["usage"] = usage_json(usage);
  return dump(j);
}

std::string sse_event(const std::string& json) { return "data: " + json + "\n\n"; }

}  // namespace vkmoe
