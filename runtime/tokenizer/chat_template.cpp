#include "runtime/tokenizer/chat_template.h"

#include <stdexcept>

namespace vkmoe {
namespace {

constexpr std::string_view kDeepSeekEos = "<\xEF\xBD\x9C" "end\xE2\x96\x81" "of\xE2\x96\x81" "sentence\xEF\xBD\x9C>";

bool contains(std::string_view text, std::string_view marker) { return text.find(marker) != std::string_view::npos; }

// ChatML, as Qwen2/Qwen3 (MoE) templates render it for plain text messages.
std::string render_chatml(std::span<const ChatMessage> history, bool add_generation_prompt) {
  std::string out;
  for (const ChatMessage& m : history) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

// Mistral's "v1" template (Mixtral 8x7B/8x22B Instruct): system text opens the next user turn.
// The template's " [INST]" after <s> loses its space at the very start, where SentencePiece puts
// the same "▁" in front of the text itself; the generation prompt is the trailing "[/INST]".
std::string render_mistral(std::span<const ChatMessage> history) {
  std::string out;
  bool in_turn = false;
  for (const ChatMessage& m : history) {
    if (m.role != "system" && m.role != "user" && m.role != "assistant") {
      throw std::invalid_argument("Mistral chat template: unsupported role '" + m.role + "'");
    }
    if (!in_turn && m.role != "assistant") {
      out += out.empty() ? "[INST] " : " [INST] ";
      in_turn = true;
    }
    if (m.role == "system") {
      out += m.content + "\n\n";
    } else if (m.role == "user") {
      out += m.content + " [/INST]";
    } else {
      out += " " + m.content + "</s>";
      in_turn = false;
    }
  }
  return out;
}

// DeepSeek-V2's template (also DeepSeek-V2-Lite and DeepSeek-MoE chat).
std::string render_deepseek(std::span<const ChatMessage> history, bool add_generation_prompt) {
  std::string out;
  for (const ChatMessage& m : history) {
    if (m.role == "user") out += "User: " + m.content + "\n\n";
    else if (m.role == "assistant") out += "Assistant: " + m.content + std::string(kDeepSeekEos);
    else if (m.role == "system") out += m.content + "\n\n";
  }
  if (add_generation_prompt) out += "Assistant:";
  return out;
}

// The Tulu template of OLMoE / OLMo 2 Instruct; their EOS is <|endoftext|>.
std::string render_tulu(std::span<const ChatMessage> history, bool add_generation_prompt) {
  std::string out;
  for (size_t i = 0; i < history.size(); ++i) {
    const ChatMessage& m = history[i];
    if (m.role == "system" || m.role == "user") {
      out += "<|" + m.role + "|>\n" + m.content + "\n";
    } else if (m.role == "assistant") {
      out += "<|assistant|>\n" + m.content + "<|endoftext|>";
      if (i + 1 < history.size()) out += "\n";
    }
  }
  if (add_generation_prompt && !history.empty()) out += "<|assistant|>\n";
  return out;
}

}  // namespace

ChatFormat detect_chat_format(std::string_view jinja, std::string_view arch) {
  if (contains(jinja, "<|im_start|>")) return ChatFormat::ChatMl;
  if (contains(jinja, "[INST]")) return ChatFormat::Mistral;
  if (contains(jinja, "<|user|>") && contains(jinja, "<|assistant|>") && !contains(jinja, "<|end|>")) {
    return ChatFormat::Tulu;  // Phi-3 uses the same role markers but ends turns with <|end|>
  }
  if (contains(jinja, "'User: '") && contains(jinja, "Assistant:")) return ChatFormat::DeepSeek;
  if (!jinja.empty()) return ChatFormat::Unknown;
  if (arch == "qwen2" || arch == "qwen2moe" || arch == "qwen3" || arch == "qwen3moe") return ChatFormat::ChatMl;
  if (arch == "llama") return ChatFormat::Mistral;  // Mixtral files say "llama"
  if (arch == "deepseek2" || arch == "deepseek") return ChatFormat::DeepSeek;
  if (arch == "olmoe" || arch == "olmo2") return ChatFormat::Tulu;
  return ChatFormat::Unknown;
}

std::string_view chat_format_name(ChatFormat format) {
  switch (format) {
    case ChatFormat::ChatMl: return "chatml";
    case ChatFormat::Mistral: return "mistral";
    case ChatFormat::DeepSeek: return "deepseek";
    case ChatFormat::Tulu: return "tulu";
    case ChatFormat::Unknown: break;
  }
  return "unknown";
}

std::string_view chat_format_names() { return "chatml, mistral, deepseek, tulu"; }

ChatFormat parse_chat_format(std::string_view name) {
  for (ChatFormat f : {ChatFormat::ChatMl, ChatFormat::Mistral, ChatFormat::DeepSeek, ChatFormat::Tulu})
    if (name == chat_format_name(f)) return f;
  throw std::invalid_argument("--chat-template: '" + std::string(name) + "' is not a template vkmoe knows (" +
                              std::string(chat_format_names()) + ")");
}

std::string apply_chat_template(ChatFormat format, std::span<const ChatMessage> history, bool add_generation_prompt) {
  switch (format) {
    case ChatFormat::ChatMl: return render_chatml(history, add_generation_prompt);
    case ChatFormat::Mistral: return render_mistral(history);
    case ChatFormat::DeepSeek: return render_deepseek(history, add_generation_prompt);
    case ChatFormat::Tulu: return render_tulu(history, add_generation_prompt);
    case ChatFormat::Unknown: break;
  }
  throw std::invalid_argument("no chat template for this model");
}

}  // namespace vkmoe
