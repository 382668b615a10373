#include "runtime/tokenizer/chat_template.h"

#include <chrono>
#include <ctime>
#include <stdexcept>

namespace vkmoe {
namespace {

constexpr std::string_view kDeepSeekEos = "<\xEF\xBD\x9C" "end\xE2\x96\x81" "of\xE2\x96\x81" "sentence\xEF\xBD\x9C>";
constexpr std::string_view kDeepSeekUser = "<\xEF\xBD\x9C" "User\xEF\xBD\x9C>";            // <｜User｜>
constexpr std::string_view kDeepSeekAssistant = "<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>";  // <｜Assistant｜>

using History = std::span<const ChatMessage>;

bool contains(std::string_view text, std::string_view marker) { return text.find(marker) != std::string_view::npos; }

// llama.cpp's trim: ASCII white space at both ends.
std::string trim(std::string_view s) {
  const char* ws = " \t\n\v\f\r";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return "";
  return std::string(s.substr(b, s.find_last_not_of(ws) - b + 1));
}

// The formats added for the new MoE families show system, user and assistant messages only;
// any other role (a tool result needs the tool call's context) is refused, not dropped.
void require_plain_roles(History history, std::string_view format) {
  for (const ChatMessage& m : history) {
    if (m.role != "system" && m.role != "user" && m.role != "assistant") {
      throw std::invalid_argument(std::string(format) + " chat template: unsupported role '" + m.role + "'");
    }
  }
}

// ChatML, as Qwen2/Qwen3 (MoE) templates render it for plain text messages.
std::string render_chatml(History history, bool add_generation_prompt) {
  std::string out;
  for (const ChatMessage& m : history) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

// Mistral's "v1" template (Mixtral 8x7B/8x22B Instruct): system text opens the next user turn.
// The template's " [INST]" after <s> loses its space at the very start, where SentencePiece puts
// the same "▁" in front of the text itself; the generation prompt is the trailing "[/INST]".
std::string render_mistral(History history) {
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
std::string render_deepseek(History history, bool add_generation_prompt) {
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
std::string render_tulu(History history, bool add_generation_prompt) {
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

// gpt-oss's own (Jinja) template: a fixed system message, the caller's system prompt as the
// developer's instructions, replies on the final channel. (llama.cpp's hand-written fallback
// leaves out the channel, which the model was not trained on.)
std::string render_harmony(History history, bool add_generation_prompt, std::string_view date) {
  require_plain_roles(history, "gpt-oss");
  std::string out = "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
                    "Knowledge cutoff: 2024-06\nCurrent date: " + std::string(date) +
                    "\n\nReasoning: medium\n\n"
                    "# Valid channels: analysis, commentary, final. Channel must be included for every message.<|end|>";
  size_t first = 0;
  if (!history.empty() && history[0].role == "system") {
    if (!history[0].content.empty()) out += "<|start|>developer<|message|># Instructions\n\n" + history[0].content + "\n\n<|end|>";
    first = 1;
  }
  for (size_t i = first; i < history.size(); ++i) {
    const ChatMessage& m = history[i];
    if (m.role == "system") throw std::invalid_argument("gpt-oss chat template: a system message must come first");
    if (m.role == "user") {
      out += "<|start|>user<|message|>" + m.content + "<|end|>";
    } else {
      // The last reply of a finished conversation ends with <|return|>, the others with <|end|>.
      const bool final_turn = i + 1 == history.size() && !add_generation_prompt;
      if (final_turn && !m.reasoning.empty())
        out += "<|start|>assistant<|channel|>analysis<|message|>" + m.reasoning + "<|end|>";
      out += "<|start|>assistant<|channel|>final<|message|>" + m.content + (final_turn ? "<|return|>" : "<|end|>");
    }
  }
  if (add_generation_prompt) out += "<|start|>assistant";
  return out;
}

// GLM-4 / GLM-4.5 as llama.cpp renders them ([gMASK]<sop> is text in the template, not BOS).
std::string render_chatglm4(History history, bool add_generation_prompt) {
  std::string out = "[gMASK]<sop>";
  for (const ChatMessage& m : history) out += "<|" + m.role + "|>\n" + m.content;
  if (add_generation_prompt) out += "<|assistant|>\n";
  return out;
}

// Llama 3 and Llama 4: a header per turn, the content trimmed.
std::string render_headers(History history, bool add_generation_prompt, std::string_view open,
                           std::string_view close, std::string_view end) {
  std::string out;
  for (const ChatMessage& m : history)
    out += std::string(open) + m.role + std::string(close) + "\n\n" + trim(m.content) + std::string(end);
  if (add_generation_prompt) out += std::string(open) + "assistant" + std::string(close) + "\n\n";
  return out;
}

// ERNIE-4.5's template; <|begin_of_sentence|> is its cls_token, written by the template.
std::string render_ernie(History history, bool add_generation_prompt) {
  require_plain_roles(history, "ERNIE-4.5");
  std::string out = "<|begin_of_sentence|>";
  for (const ChatMessage& m : history) {
    if (m.role == "user") out += "User: " + m.content + "\n";
    else if (m.role == "assistant") out += "Assistant: " + m.content + "<|end_of_sentence|>";
    else out += m.content + "\n";
  }
  if (add_generation_prompt) out += "Assistant: ";
  return out;
}

std::string render_granite(History history, bool add_generation_prompt) {
  std::string out;
  for (const ChatMessage& m : history)
    out += "<|start_of_role|>" + m.role + "<|end_of_role|>" + m.content + "<|end_of_text|>\n";
  if (add_generation_prompt) out += "<|start_of_role|>assistant<|end_of_role|>";
  return out;
}

std::string render_phi3(History history, bool add_generation_prompt) {
  std::string out;
  for (const ChatMessage& m : history) out += "<|" + m.role + "|>\n" + m.content + "<|end|>\n";
  if (add_generation_prompt) out += "<|assistant|>\n";
  return out;
}

// Hunyuan-A13B: the user turn's <|extra_0|> is itself the generation prompt.
std::string render_hunyuan_moe(History history) {
  require_plain_roles(history, "Hunyuan");
  std::string out;
  for (const ChatMessage& m : history) {
    if (m.role == "system") out += "<|startoftext|>" + m.content + "<|extra_4|>";
    else if (m.role == "assistant") out += m.content + "<|eos|>";
    else out += "<|startoftext|>" + m.content + "<|extra_0|>";
  }
  return out;
}

// Ling / Ring (v1) and Ling 2.0: roles in upper case, the user as HUMAN.
std::string render_bailing(ChatFormat format, History history, bool add_generation_prompt) {
  require_plain_roles(history, "Ling");
  const bool v2 = format == ChatFormat::Bailing2;
  std::string out;
  if (v2 && (history.empty() || history[0].role != "system")) out += "<role>SYSTEM</role>detailed thinking off<|role_end|>";
  for (const ChatMessage& m : history) {
    std::string role = m.role == "user" ? "HUMAN" : m.role == "system" ? "SYSTEM" : "ASSISTANT";
    out += "<role>" + role + "</role>" + m.content + (v2 ? "<|role_end|>" : "");
  }
  if (add_generation_prompt) out += format == ChatFormat::BailingThink ? "<role>ASSISTANT</role><think>" : "<role>ASSISTANT</role>";
  return out;
}

// MiniMax-M2's template: ]~!b[ opens the text, a default system message when there is none, and
// the reply opens its thinking.
std::string render_minimax(History history, bool add_generation_prompt) {
  require_plain_roles(history, "MiniMax-M2");
  const bool has_system = !history.empty() && history[0].role == "system";
  std::string out = "]~!b[]~b]system\n" + (has_system ? history[0].content : "You are a helpful assistant.") + "[e~[\n";
  for (size_t i = has_system ? 1 : 0; i < history.size(); ++i) {
    const ChatMessage& m = history[i];
    if (m.role == "system") throw std::invalid_argument("MiniMax-M2 chat template: a system message must come first");
    out += (m.role == "user" ? "]~b]user\n" : "]~b]ai\n") + m.content + "[e~[\n";
  }
  if (add_generation_prompt) out += "]~b]ai\n<think>\n";
  return out;
}

std::string render_dots1(History history, bool add_generation_prompt) {
  require_plain_roles(history, "dots1");
  std::string out;
  for (const ChatMessage& m : history) {
    if (m.role == "system") out += "<|system|>" + m.content + "<|endofsystem|>";
    else if (m.role == "user") out += "<|userprompt|>" + m.content + "<|endofuserprompt|>";
    else out += "<|response|>" + m.content + "<|endofresponse|>";
  }
  if (add_generation_prompt) out += "<|response|>";
  return out;
}

std::string render_grok2(History history, bool add_generation_prompt) {
  require_plain_roles(history, "Grok 2");
  std::string out;
  for (const ChatMessage& m : history) {
    if (m.role == "system") out += "System: " + trim(m.content) + "<|separator|>\n\n";
    else if (m.role == "user") out += "Human: " + trim(m.content) + "<|separator|>\n\n";
    else out += "Assistant: " + m.content + "<|separator|>\n\n";
  }
  if (add_generation_prompt) out += "Assistant:";
  return out;
}

std::string render_kimi_k2(History history, bool add_generation_prompt) {
  require_plain_roles(history, "Kimi K2");
  std::string out;
  for (const ChatMessage& m : history) {
    if (m.role == "system") out += "<|im_system|>system<|im_middle|>";
    else if (m.role == "user") out += "<|im_user|>user<|im_middle|>";
    else out += "<|im_assistant|>assistant<|im_middle|>";
    out += m.content + "<|im_end|>";
  }
  if (add_generation_prompt) out += "<|im_assistant|>assistant<|im_middle|>";
  return out;
}

std::string render_deepseek3(History history, bool add_generation_prompt) {
  require_plain_roles(history, "DeepSeek-V3");
  std::string out;
  for (const ChatMessage& m : history) {
    if (m.role == "system") out += m.content + "\n\n";
    else if (m.role == "user") out += std::string(kDeepSeekUser) + m.content;
    else out += std::string(kDeepSeekAssistant) + m.content + std::string(kDeepSeekEos);
  }
  if (add_generation_prompt) out += kDeepSeekAssistant;
  return out;
}

std::string today_utc() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  return std::string(buf, std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm));
}

struct Named {
  ChatFormat format;
  std::string_view name;
};

// --chat-template names: llama.cpp's where it has one (gpt-oss, llama4, chatglm4, ...).
constexpr Named kNames[] = {
    {ChatFormat::ChatMl, "chatml"},       {ChatFormat::Mistral, "mistral"},
    {ChatFormat::DeepSeek, "deepseek"},   {ChatFormat::Tulu, "tulu"},
    {ChatFormat::Harmony, "gpt-oss"},     {ChatFormat::ChatGlm4, "chatglm4"},
    {ChatFormat::Llama4, "llama4"},       {ChatFormat::Llama3, "llama3"},
    {ChatFormat::Ernie, "ernie4.5"},      {ChatFormat::Granite, "granite"},
    {ChatFormat::Phi3, "phi3"},           {ChatFormat::HunyuanMoe, "hunyuan-moe"},
    {ChatFormat::Bailing, "bailing"},     {ChatFormat::BailingThink, "bailing-think"},
    {ChatFormat::Bailing2, "bailing2"},   {ChatFormat::MiniMax, "minimax-m2"},
    {ChatFormat::Dots1, "dots1"},         {ChatFormat::Grok2, "grok-2"},
    {ChatFormat::KimiK2, "kimi-k2"},      {ChatFormat::DeepSeek3, "deepseek3"},
};
// llama.cpp's names for the formats vkmoe calls otherwise.
constexpr Named kAliases[] = {{ChatFormat::Mistral, "mistral-v1"}, {ChatFormat::DeepSeek, "deepseek2"}};

// Markers llama.cpp's llm_chat_detect_template uses, in its order, for the formats after ChatML,
// Mistral and Phi-3 (some contain <|user|> and <|assistant|>, so they come before Tulu).
ChatFormat detect_from_markers(std::string_view t) {
  auto has = [&](std::string_view m) { return contains(t, m); };
  if (has("[gMASK]<sop>")) return ChatFormat::ChatGlm4;
  if (has("<|user|>") && has("<|assistant|>")) return ChatFormat::Tulu;  // Phi-3's <|end|> is caught before
  if (has("<|start_header_id|>") && has("<|end_header_id|>")) return ChatFormat::Llama3;
  if (has("<|begin_of_sentence|>") && has("Assistant: ")) return ChatFormat::Ernie;
  if (has(kDeepSeekAssistant) && has(kDeepSeekUser) && has(kDeepSeekEos)) return ChatFormat::DeepSeek3;
  if (has("'User: '") && has("Assistant:")) return ChatFormat::DeepSeek;
  if (has("<|start_of_role|>")) return ChatFormat::Granite;
  if (has("<role>ASSISTANT</role>") && has("'HUMAN'")) return ChatFormat::Bailing;
  if (has("<role>ASSISTANT</role>") && has("\"HUMAN\"") && has("<think>")) return ChatFormat::BailingThink;
  if (has("<role>ASSISTANT</role>") && has("<role>HUMAN</role>") && has("<|role_end|>")) return ChatFormat::Bailing2;
  if (has("<|header_start|>") && has("<|header_end|>")) return ChatFormat::Llama4;
  if (has("<|endofuserprompt|>")) return ChatFormat::Dots1;
  if (has("<|extra_0|>") && has("<|extra_4|>")) return ChatFormat::HunyuanMoe;
  if (has("<|start|>") && has("<|channel|>")) return ChatFormat::Harmony;
  if (has("<|im_assistant|>assistant<|im_middle|>")) return ChatFormat::KimiK2;
  if (has("'Assistant: '  + message['content'] + '<|separator|>")) return ChatFormat::Grok2;
  if (has("]~b]ai") && has("[e~[")) return ChatFormat::MiniMax;
  return ChatFormat::Unknown;
}

// For files without a template: the format of the architecture's instruct models.
ChatFormat detect_from_arch(std::string_view arch) {
  if (arch == "qwen2" || arch == "qwen2moe" || arch == "qwen3" || arch == "qwen3moe") return ChatFormat::ChatMl;
  if (arch == "dbrx" || arch == "arctic") return ChatFormat::ChatMl;
  if (arch == "llama") return ChatFormat::Mistral;  // Mixtral files say "llama"
  if (arch == "deepseek2" || arch == "deepseek") return ChatFormat::DeepSeek;
  if (arch == "olmoe" || arch == "olmo2") return ChatFormat::Tulu;
  if (arch == "gpt-oss") return ChatFormat::Harmony;
  if (arch == "glm4moe") return ChatFormat::ChatGlm4;
  if (arch == "llama4") return ChatFormat::Llama4;
  if (arch == "ernie4_5-moe") return ChatFormat::Ernie;
  if (arch == "granitemoe") return ChatFormat::Granite;
  if (arch == "phimoe") return ChatFormat::Phi3;
  if (arch == "hunyuan-moe") return ChatFormat::HunyuanMoe;
  if (arch == "bailingmoe") return ChatFormat::Bailing;
  if (arch == "bailingmoe2") return ChatFormat::Bailing2;
  if (arch == "minimax-m2") return ChatFormat::MiniMax;
  if (arch == "dots1") return ChatFormat::Dots1;
  return ChatFormat::Unknown;
}

}  // namespace

ChatFormat detect_chat_format(std::string_view jinja, std::string_view arch) {
  if (contains(jinja, "<|im_start|>")) return ChatFormat::ChatMl;
  if (contains(jinja, "[INST]")) return ChatFormat::Mistral;
  if (contains(jinja, "<|assistant|>") && contains(jinja, "<|end|>")) return ChatFormat::Phi3;
  if (ChatFormat f = detect_from_markers(jinja); f != ChatFormat::Unknown) return f;
  if (!jinja.empty()) return ChatFormat::Unknown;
  return detect_from_arch(arch);
}

std::string_view chat_format_name(ChatFormat format) {
  for (const Named& n : kNames)
    if (n.format == format) return n.name;
  return "unknown";
}

std::string_view chat_format_names() {
  static const std::string names = [] {
    std::string s;
    for (const Named& n : kNames) s += (s.empty() ? "" : ", ") + std::string(n.name);
    return s;
  }();
  return names;
}

ChatFormat parse_chat_format(std::string_view name) {
  for (const Named& n : kNames)
    if (name == n.name) return n.format;
  for (const Named& n : kAliases)
    if (name == n.name) return n.format;
  throw std::invalid_argument("--chat-template: '" + std::string(name) + "' is not a template vkmoe knows (" +
                              std::string(chat_format_names()) + ")");
}

std::string apply_chat_template(ChatFormat format, History history, bool add_generation_prompt) {
  return apply_chat_template(format, history, add_generation_prompt,
                             format == ChatFormat::Harmony ? today_utc() : std::string());
}

std::string apply_chat_template(ChatFormat format, History history, bool add_generation_prompt, std::string_view date) {
  const bool gen = add_generation_prompt;
  switch (format) {
    case ChatFormat::ChatMl: return render_chatml(history, gen);
    case ChatFormat::Mistral: return render_mistral(history);
    case ChatFormat::DeepSeek: return render_deepseek(history, gen);
    case ChatFormat::Tulu: return render_tulu(history, gen);
    case ChatFormat::Harmony: return render_harmony(history, gen, date);
    case ChatFormat::ChatGlm4: return render_chatglm4(history, gen);
    case ChatFormat::Llama4: return render_headers(history, gen, "<|header_start|>", "<|header_end|>", "<|eot|>");
    case ChatFormat::Llama3:
      return render_headers(history, gen, "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>");
    case ChatFormat::Ernie: return render_ernie(history, gen);
    case ChatFormat::Granite: return render_granite(history, gen);
    case ChatFormat::Phi3: return render_phi3(history, gen);
    case ChatFormat::HunyuanMoe: return render_hunyuan_moe(history);
    case ChatFormat::Bailing:
    case ChatFormat::BailingThink:
    case ChatFormat::Bailing2: return render_bailing(format, history, gen);
    case ChatFormat::MiniMax: return render_minimax(history, gen);
    case ChatFormat::Dots1: return render_dots1(history, gen);
    case ChatFormat::Grok2: return render_grok2(history, gen);
    case ChatFormat::KimiK2: return render_kimi_k2(history, gen);
    case ChatFormat::DeepSeek3: return render_deepseek3(history, gen);
    case ChatFormat::Unknown: break;
  }
  throw std::invalid_argument("no chat template for this model");
}

}  // namespace vkmoe
