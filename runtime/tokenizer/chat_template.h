// Chat prompts for the model families vkmoe runs, chosen by markers in the GGUF's Jinja
// template (tokenizer.chat_template) rather than by running Jinja.
//
// The text leaves out the BOS token: encode it with add_special = true (the tokenizer adds BOS
// where the vocabulary asks for it) and parse_special = true (so "<|im_start|>" etc. become
// their ids).
#pragma once
#include <span>
#include <string>
#include <string_view>

namespace vkmoe {

enum class ChatFormat {
  Unknown,
  ChatMl,    // Qwen: <|im_start|>role\n...<|im_end|>\n
  Mistral,   // Mistral / Mixtral "v1": [INST] ... [/INST] answer</s>
  DeepSeek,  // DeepSeek-V2 / DeepSeek-MoE: User: ...\n\nAssistant: ...<｜end▁of▁sentence｜>
  Tulu,      // OLMoE / OLMo 2 / Tulu: <|user|>\n...\n<|assistant|>\n...<|endoftext|>
};

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

// From the template's markers; when the file has no template (empty jinja), from the
// architecture (general.architecture, e.g. "qwen3moe"). Unknown when neither says.
ChatFormat detect_chat_format(std::string_view jinja, std::string_view arch);

std::string_view chat_format_name(ChatFormat format);
// The inverse, for --chat-template NAME; std::invalid_argument listing the names otherwise.
ChatFormat parse_chat_format(std::string_view name);
std::string_view chat_format_names();  // "chatml, mistral, deepseek, tulu"

// Renders history as the model's own template does. add_generation_prompt ends the text with
// the opening of an assistant turn. Throws std::invalid_argument for ChatFormat::Unknown and
// for a role the format cannot show.
std::string apply_chat_template(ChatFormat format, std::span<const ChatMessage> history,
                                bool add_generation_prompt);

}  // namespace vkmoe
