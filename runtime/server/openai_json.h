// Response bodies in OpenAI's shapes (chat.completion, chat.completion.chunk, text_completion)
// and the server-sent-event framing of a stream.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "runtime/model/generator.h"

namespace vkmoe {

struct ResponseInfo {
  std::string id;     // "chatcmpl-7" / "cmpl-7"
  std::string model;  // the served model's id
  int64_t created = 0;
  bool chat = true;
};

// OpenAI's usage: cached is prompt_tokens_details.cached_tokens, the prompt tokens a slot's KV
// cache already held (prefix reuse), counted in prompt too.
struct Usage {
  uint32_t prompt = 0, completion = 0, cached = 0;
};

// "stop" for an end of turn or a stop string, "length" for max_tokens or a full context.
const char* finish_reason(StopReason reason, bool stop_string);

// reasoning: the model's (gpt-oss's analysis channel), as llama-server's message.reasoning_content.
std::string completion_json(const ResponseInfo& info, const std::string& text, const char* finish, const Usage& usage,
                            const std::string& reasoning = {});
// One streamed chunk: text (chat: the delta's content, or with reasoning its reasoning_content;
// first: the role too), or the final chunk with finish set and usage.
std::string chunk_json(const ResponseInfo& info, const std::string& text, bool first, const char* finish = nullptr,
                       const Usage& usage = {}, bool reasoning = false);
std::string sse_event(const std::string& json);  // "data: JSON\n\n"
inline const char* sse_done() { return "data: [DONE]\n\n"; }

}  // namespace vkmoe
