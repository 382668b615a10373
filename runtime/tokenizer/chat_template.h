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
  ChatMl,    // Qwen, DBRX, Arctic: <|im_start|>role\n...<|im_end|>\n
  Mistral,   // Mistral / Mixtral "v1": [INST] ... [/INST] answer</s>
  DeepSeek,  // DeepSeek-V2 / DeepSeek-MoE (v1): User: ...\n\nAssistant: ...<｜end▁of▁sentence｜>
  Tulu,      // OLMoE / OLMo 2 / Tulu: <|user|>\n...\n<|assistant|>\n...<|endoftext|>
  Harmony,   // gpt-oss: <|start|>role<|message|>...<|end|>, replies on the final channel
  ChatGlm4,  // GLM-4 / GLM-4.5: [gMASK]<sop><|role|>\n...
  Llama4,    // <|header_start|>role<|header_end|>\n\n...<|eot|>
  Llama3,    // <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>
  Ernie,     // ERNIE-4.5: <|begin_of_sentence|>User: ...\nAssistant: ...<|end_of_sentence|>
  Granite,   // <|start_of_role|>role<|end_of_role|>...<|end_of_text|>\n
  Phi3,      // Phi-3 / Phi-3.5-MoE: <|role|>\n...<|end|>\n
  HunyuanMoe,    // Hunyuan-A13B: <|startoftext|>...<|extra_0|>
  Bailing,       // Ling (v1): <role>HUMAN</role>...
  BailingThink,  // Ring: Ling's, the reply opening with <think>
  Bailing2,      // Ling 2.0: <role>HUMAN</role>...<|role_end|>
  MiniMax,   // MiniMax-M2: ]~b]user\n...[e~[\n
  Dots1,     // dots.llm1: <|userprompt|>...<|endofuserprompt|><|response|>
  Grok2,     // Grok 2: Human: ...<|separator|>\n\n
  KimiK2,    // Kimi K2: <|im_user|>user<|im_middle|>...<|im_end|>
  DeepSeek3, // DeepSeek-V3 / R1: <｜User｜>...<｜Assistant｜>...<｜end▁of▁sentence｜>
};

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
  // An assistant's reasoning (gpt-oss's analysis channel). Templates drop it from history; only
  // Harmony renders it, for the last reply of a finished conversation, as its template does.
  std::string reasoning;
};

// From the template's markers; when the file has no template (empty jinja), from the
// architecture (general.architecture, e.g. "qwen3moe"). Unknown when neither says.
ChatFormat detect_chat_format(std::string_view jinja, std::string_view arch);

std::string_view chat_format_name(ChatFormat format);
// The inverse, for --chat-template NAME; std::invalid_argument listing the names otherwise.
ChatFormat parse_chat_format(std::string_view name);
std::string_view chat_format_names();  // "chatml, mistral, deepseek, tulu, gpt-oss, ..."

// Renders history as the model's own template does. add_generation_prompt ends the text with
// the opening of an assistant turn. Throws std::invalid_argument for ChatFormat::Unknown and
// for a role the format cannot show.
//
// The texts are those llama.cpp's own renderings give (src/llama-chat.cpp), and where llama.cpp
// has none or a poorer one (gpt-oss, ERNIE-4.5, MiniMax-M2), the model's Jinja template's.
// Harmony's system message carries the current date (UTC).
std::string apply_chat_template(ChatFormat format, std::span<const ChatMessage> history,
                                bool add_generation_prompt);
// The same with the date Harmony's system message shows ("2025-08-05"), for reproducible texts.
std::string apply_chat_template(ChatFormat format, std::span<const ChatMessage> history,
                                bool add_generation_prompt, std::string_view date);

}  // namespace vkmoe
