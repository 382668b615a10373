#include "runtime/server/request.h"

#include <cmath>
#include <nlohmann/json.hpp>

namespace vkmoe {

using nlohmann::json;

std::string error_json(const std::string& message, const std::string& type, int code) {
  json j = {{"error", {{"message", message}, {"type", type}, {"code", code}}}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace {

ApiError bad(const std::string& message) { return ApiError(400, message); }

// A finite number in [min, max]; NaN cannot be written in JSON, but 1e999 parses as infinity.
float number_field(const json& j, const char* name, double min, double max) {
  const json& v = j.at(name);
  if (!v.is_number()) throw bad(std::string("'") + name + "' must be a number");
  const double d = v.get<double>();
  if (!std::isfinite(d) || d < min || d > max)
    throw bad(std::string("'") + name + "' must be a finite number from " + std::to_string(min) + " to " +
              std::to_string(max) + " (got " + v.dump() + ")");
  return static_cast<float>(d);
}

int64_t int_field(const json& j, const char* name, int64_t min, int64_t max) {
  const json& v = j.at(name);
  if (!v.is_number_integer()) throw bad(std::string("'") + name + "' must be an integer");
  // Unsigned values above INT64_MAX read as negative through get<int64_t>; check them first.
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(max))
    throw bad(std::string("'") + name + "' is out of range (got " + v.dump() + ")");
  const int64_t i = v.get<int64_t>();
  if (i < min || i > max)
    throw bad(std::string("'") + name + "' must be from " + std::to_string(min) + " to " + std::to_string(max) +
              " (got " + v.dump() + ")");
  return i;
}

// A string, or (as newer clients send) an array of {"type":"text","text":...} parts, joined.
std::string message_content(const json& m, const std::string& at) {
  const std::string err = at + ".content must be a string or an array of text parts";
  if (!m.contains("content")) throw bad(err);
  const json& c = m["content"];
  if (c.is_string()) return c;
  if (!c.is_array()) throw bad(err);
  std::string text;
  for (const auto& part : c) {
    if (!part.is_object() || part.value("type", json()) != "text" || !part.contains("text") || !part["text"].is_string())
      throw bad(err + " (only type \"text\" is supported)");
    text += part["text"].get<std::string>();
  }
  return text;
}

std::vector<ChatMessage> parse_messages(const json& j) {
  if (!j.contains("messages")) throw bad("'messages' is required");
  const json& m = j["messages"];
  if (!m.is_array() || m.empty()) throw bad("'messages' must be a non-empty array");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < m.size(); ++i) {
    const std::string at = "messages[" + std::to_string(i) + "]";
    if (!m[i].is_object()) throw bad(at + " must be an object");
    if (!m[i].contains("role") || !m[i]["role"].is_string()) throw bad(at + ".role must be a string");
    const std::string role = m[i]["role"];
    if (role != "system" && role != "user" && role != "assistant")
      throw bad(at + ".role must be system, user or assistant (got '" + role + "')");
    out.push_back({role, message_content(m[i], at)});
  }
  return out;
}

std::vector<std::string> parse_stop(const json& v) {
  std::vector<std::string> stops;
  if (v.is_null()) return stops;
  if (v.is_string()) {
    stops.push_back(v);
  } else if (v.is_array()) {
    if (v.size() > 16) throw bad("'stop' has more than 16 strings");
    for (const auto& s : v) {
      if (!s.is_string()) throw bad("'stop' must be a string or an array of strings");
      stops.push_back(s);
    }
  } else {
    throw bad("'stop' must be a string or an array of strings");
  }
  for (const auto& s : stops)
    if (s.empty()) throw bad("'stop' strings must not be empty");
  return stops;
}

void parse_sampling(const json& j, SamplerConfig& s) {
  if (j.contains("temperature") && !j["temperature"].is_null()) s.temperature = number_field(j, "temperature", 0, 2);
  if (j.contains("top_p") && !j["top_p"].is_null()) s.top_p = number_field(j, "top_p", 0, 1);
  if (j.contains("min_p") && !j["min_p"].is_null()) s.min_p = number_field(j, "min_p", 0, 1);
  if (j.contains("top_k") && !j["top_k"].is_null()) s.top_k = static_cast<int32_t>(int_field(j, "top_k", 0, 1 << 20));
  if (j.contains("presence_penalty") && !j["presence_penalty"].is_null())
    s.presence_penalty = number_field(j, "presence_penalty", -2, 2);
  if (j.contains("frequency_penalty") && !j["frequency_penalty"].is_null())
    s.frequency_penalty = number_field(j, "frequency_penalty", -2, 2);
  if (j.contains("seed") && !j["seed"].is_null()) s.seed = int_field(j, "seed", INT64_MIN, INT64_MAX);
}

}  // namespace

CompletionRequest parse_completion_request(const std::string& body, bool chat, const SamplerConfig& defaults,
                                           int default_max_tokens) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {
    throw bad(std::string("the body is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) throw bad("the body must be a JSON object");
  CompletionRequest r;
  r.chat = chat;
  r.sampling = defaults;
  r.max_tokens = default_max_tokens;
  if (chat) {
    r.messages = parse_messages(j);
  } else {
    if (!j.contains("prompt") || !j["prompt"].is_string()) throw bad("'prompt' must be a string");
    r.prompt = j["prompt"];
  }
  if (j.contains("model") && !j["model"].is_string()) throw bad("'model' must be a string");
  if (j.contains("stream") && !j["stream"].is_null()) {
    if (!j["stream"].is_boolean()) throw bad("'stream' must be true or false");
    r.stream = j["stream"];
  }
  if (j.contains("n") && !j["n"].is_null() && int_field(j, "n", 1, 1) != 1) throw bad("'n' must be 1");
  for (const char* name : {"max_tokens", "max_completion_tokens"})
    if (j.contains(name) && !j[name].is_null()) r.max_tokens = static_cast<int>(int_field(j, name, 1, INT32_MAX));
  if (j.contains("stop")) r.stop = parse_stop(j["stop"]);
  parse_sampling(j, r.sampling);
  return r;
}

std::string StopMatcher::push(const std::string& text) {
  if (stopped_) return {};
  pending_ += text;
  size_t first = std::string::npos;
  for (const auto& s : stops_) first = std::min(first, pending_.find(s));
  if (first != std::string::npos) {
    stopped_ = true;
    std::string out = pending_.substr(0, first);
    pending_.clear();
    return out;
  }
  // Keep the longest tail that some stop string begins with.
  size_t hold = 0;
  for (const auto& s : stops_)
    for (size_t k = std::min(s.size() - 1, pending_.size()); k > hold; --k)
      if (pending_.compare(pending_.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
  std::string out = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string StopMatcher::flush() {
  std::string out;
  out.swap(pending_);
  return stopped_ ? std::string() : out;
}

}  // namespace vkmoe
