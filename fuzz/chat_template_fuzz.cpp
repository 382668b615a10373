// libFuzzer target for chat templates: any bytes as a Jinja template (and architecture) must be
// detected as some format without a crash, and rendering a conversation built from the input
// must either work or refuse with std::invalid_argument; a rendered conversation contains every
// message it was given (trimmed, as some templates trim). Seeds: real templates (fuzz/corpus_chat/).
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

std::string trim(std::string_view s) {
  const char* ws = " \t\n\v\f\r";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return "";
  return std::string(s.substr(b, s.find_last_not_of(ws) - b + 1));
}

const char* const kArchs[] = {"", "qwen3moe", "llama", "deepseek2", "olmoe", "gpt-oss", "glm4moe", "minimax-m2"};
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
  bool has_tool = false, late_system = false;
  for (size_t i = 0; i < history.size(); ++i) {
    has_tool |= history[i].role == "tool";
    late_system |= i > 0 && history[i].role == "system";
  }
  for (int k = 0; k <= static_cast<int>(ChatFormat::DeepSeek3); ++k) {
    const ChatFormat f = static_cast<ChatFormat>(k);
    try {
      const std::string text = apply_chat_template(f, history, data[0] & 0x80, "2025-01-01");
      // Some templates trim messages (Llama 3/4, Grok 2), so the trimmed text must be there.
      for (const auto& m : history)
        if (m.role != "tool") check(text.find(trim(m.content)) != std::string::npos);
    } catch (const std::invalid_argument&) {
      // Unknown has no template; Mistral and the newer formats refuse a tool message; gpt-oss
      // and MiniMax-M2 a system message after the first.
      check(f == ChatFormat::Unknown || has_tool ||
            (late_system && (f == ChatFormat::Harmony || f == ChatFormat::MiniMax)));
    }
  }
  return 0;
}
