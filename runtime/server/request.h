// The OpenAI-style request bodies `vkmoe serve` accepts, parsed and checked without any HTTP:
// every field has its type and range checked, and any problem is an ApiError naming the field,
// which the server turns into a 400 with OpenAI's error JSON.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/sampling/sampler.h"
#include "runtime/tokenizer/chat_template.h"

namespace vkmoe {

struct ApiError : std::runtime_error {
  ApiError(int status, const std::string& message, std::string type = "invalid_request_error")
      : std::runtime_error(message), status(status), type(std::move(type)) {}
  int status;
  std::string type;
};

// {"error":{"message":..,"type":..,"code":status}}
std::string error_json(const std::string& message, const std::string& type, int code);

struct CompletionRequest {
  bool chat = false;                  // /v1/chat/completions (messages) or /v1/completions (prompt)
  std::vector<ChatMessage> messages;  // chat
  std::string prompt;                 // completions
  SamplerConfig sampling;
  int max_tokens = -1;                // -1: until the end of the turn or a full context
  std::vector<std::string> stop;
  bool stream = false;
};

// body: the request's JSON. defaults: the server's sampling settings (from its flags), which
// the request's fields override; default_max_tokens: -n.
CompletionRequest parse_completion_request(const std::string& body, bool chat, const SamplerConfig& defaults,
                                           int default_max_tokens);

// Holds back generated text that may be the start of a stop string, so a stop string is never
// sent, even when it arrives split across tokens.
class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}
  // Adds text; returns the text now safe to send (everything before a stop string once one appears).
  std::string push(const std::string& text);
  std::string flush();  // what was held back, at the end of generation
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace vkmoe
