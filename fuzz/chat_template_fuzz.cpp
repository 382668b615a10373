// libFuzzer target for chat templates: any bytes as a Jinja template (and architecture) must be
// detected as some format without a crash, and rendering a conversation built from the input
// must either work or refuse with std::invalid_argument; a rendered conversation contains every
// message it was given. Seeds: real templates (fuzz/corpus_chat/).
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/tokenizer/chat_template.h"

using namespace vkmoe;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

const char* const kArchs[] = {"", "qwen3moe", "qwen2moe", "llama", "deepseek2", "olmoe", "mixtral", "gpt-oss"};
const char* const kRoles[] = {"system", "user", "assistant", "tool"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  const ChatFormat format = detect_chat_format(input, kArchs[data[0] % 8]);
  const std::string_view name = chat_format_name(format);
  if (format != ChatFormat::Unknown) check(parse_chat_format(name) == format);

  // Messages: the input split at NUL bytes, roles chosen by the first byte's high bits.
  std::vector<ChatMessage> history;
  size_t start = 0;
  for (size_t i = 0; i <= input.size(); ++i) {
    if (i < input.size() && input[i] != '\0') continue;
    history.push_back({kRoles[(data[0] >> 3 ^ history.size()) % 4], std::string(input.substr(start, i - start))});
    start = i + 1;
  }
  for (ChatFormat f : {ChatFormat::ChatMl, ChatFormat::Mistral, ChatFormat::DeepSeek, ChatFormat::Tulu, format}) {
    try {
      const std::string text = apply_chat_template(f, history, data[0] & 0x80);
      for (const auto& m : history)
        if (m.role != "tool") check(text.find(m.content) != std::string::npos);
    } catch (const std::invalid_argument&) {
      check(f == ChatFormat::Unknown || f == ChatFormat::Mistral);
    }
  }
  return 0;
}
