#include <doctest/doctest.h>

#include <stdexcept>
#include <vector>

#include "runtime/tokenizer/chat_template.h"

using namespace vkmoe;

namespace {

// The conversation llama.cpp's chat template tests render (system prompt, two full turns, a
// trailing whitespace-padded answer and an open question).
const std::vector<ChatMessage> kConversation = {
    {"system", "You are a helpful assistant"},
    {"user", "Hello"},
    {"assistant", "Hi there"},
    {"user", "Who are you"},
    {"assistant", "   I am an assistant   "},
    {"user", "Another question"},
};

// Template texts as the models' tokenizer_config.json / GGUF files carry them (abridged to
// the parts that hold the markers).
constexpr const char* kQwen3Jinja =
    "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";
constexpr const char* kMixtralJinja =
    "{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content'] %}"
    "{%- set loop_messages = messages[1:] %}{%- else %}{%- set loop_messages = messages %}{%- endif %}"
    "{{- bos_token }}{%- for message in loop_messages %}{%- if message['role'] == 'user' %}"
    "{%- if loop.first and system_message is defined %}"
    "{{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}{%- else %}"
    "{{- ' [INST] ' + message['content'] + ' [/INST]' }}{%- endif %}{%- elif message['role'] == 'assistant' %}"
    "{{- ' ' + message['content'] + eos_token}}{%- endif %}{%- endfor %}";
constexpr const char* kDeepSeekV2Jinja =
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
    "{{ 'User: ' + message['content'] + '\\n\\n' }}{% elif message['role'] == 'assistant' %}"
    "{{ 'Assistant: ' + message['content'] + eos_token }}{% elif message['role'] == 'system' %}"
    "{{ message['content'] + '\\n\\n' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}";
constexpr const char* kOlmoeJinja =
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}"
    "{{ '<|system|>\\n' + message['content'] + '\\n' }}{% elif message['role'] == 'user' %}"
    "{{ '<|user|>\\n' + message['content'] + '\\n' }}{% elif message['role'] == 'assistant' %}"
    "{% if not loop.last %}{{ '<|assistant|>\\n'  + message['content'] + eos_token + '\\n' }}"
    "{% else %}{{ '<|assistant|>\\n'  + message['content'] + eos_token }}{% endif %}{% endif %}"
    "{% if loop.last and add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}{% endfor %}";
constexpr const char* kPhi3Jinja =
    "{% for message in messages %}{{'<|' + message['role'] + '|>' + '\\n' + message['content'] + '<|end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}";

}  // namespace

TEST_CASE("chat format is detected from template markers, else from the architecture") {
  CHECK(detect_chat_format(kQwen3Jinja, "qwen3moe") == ChatFormat::ChatMl);
  CHECK(detect_chat_format(kMixtralJinja, "llama") == ChatFormat::Mistral);
  CHECK(detect_chat_format(kDeepSeekV2Jinja, "deepseek2") == ChatFormat::DeepSeek);
  CHECK(detect_chat_format(kOlmoeJinja, "olmoe") == ChatFormat::Tulu);
  CHECK(detect_chat_format(kPhi3Jinja, "phi3") == ChatFormat::Unknown);
  CHECK(detect_chat_format("", "qwen2moe") == ChatFormat::ChatMl);
  CHECK(detect_chat_format("", "deepseek2") == ChatFormat::DeepSeek);
  CHECK(detect_chat_format("", "olmoe") == ChatFormat::Tulu);
  CHECK(detect_chat_format("", "llama") == ChatFormat::Mistral);
  CHECK(detect_chat_format("", "gpt2") == ChatFormat::Unknown);
  CHECK(chat_format_name(ChatFormat::ChatMl) == "chatml");
}

TEST_CASE("ChatML renders as Qwen's template") {
  CHECK(apply_chat_template(ChatFormat::ChatMl, kConversation, true) ==
        "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n"
        "<|im_start|>user\nHello<|im_end|>\n"
        "<|im_start|>assistant\nHi there<|im_end|>\n"
        "<|im_start|>user\nWho are you<|im_end|>\n"
        "<|im_start|>assistant\n   I am an assistant   <|im_end|>\n"
        "<|im_start|>user\nAnother question<|im_end|>\n"
        "<|im_start|>assistant\n");
  std::vector<ChatMessage> one = {{"user", "Hi"}};
  CHECK(apply_chat_template(ChatFormat::ChatMl, one, false) == "<|im_start|>user\nHi<|im_end|>\n");
}

TEST_CASE("Mistral folds the system prompt into the first user turn") {
  // Mixtral's template renders (bos_token aside) " [INST] You are..."; the space after <s> is
  // left to SentencePiece's own "▁" in front of the text.
  const std::string from_template =
      " [INST] You are a helpful assistant\n\nHello [/INST] Hi there</s>"
      " [INST] Who are you [/INST]    I am an assistant   </s>"
      " [INST] Another question [/INST]";
  CHECK(apply_chat_template(ChatFormat::Mistral, kConversation, true) == from_template.substr(1));
  std::vector<ChatMessage> no_system(kConversation.begin() + 1, kConversation.end());
  CHECK(apply_chat_template(ChatFormat::Mistral, no_system, true) ==
        "[INST] Hello [/INST] Hi there</s> [INST] Who are you [/INST]    I am an assistant   </s>"
        " [INST] Another question [/INST]");
  std::vector<ChatMessage> tool = {{"tool", "42"}};
  CHECK_THROWS_AS(apply_chat_template(ChatFormat::Mistral, tool, true), std::invalid_argument);
}

TEST_CASE("DeepSeek renders as DeepSeek-V2's template") {
  CHECK(apply_chat_template(ChatFormat::DeepSeek, kConversation, true) ==
        "You are a helpful assistant\n\n"
        "User: Hello\n\nAssistant: Hi there<\xEF\xBD\x9C" "end\xE2\x96\x81" "of\xE2\x96\x81" "sentence\xEF\xBD\x9C>"
        "User: Who are you\n\nAssistant:    I am an assistant   <\xEF\xBD\x9C" "end\xE2\x96\x81" "of\xE2\x96\x81" "sentence\xEF\xBD\x9C>"
        "User: Another question\n\nAssistant:");
}

TEST_CASE("Tulu renders as OLMoE's template") {
  CHECK(apply_chat_template(ChatFormat::Tulu, kConversation, true) ==
        "<|system|>\nYou are a helpful assistant\n"
        "<|user|>\nHello\n"
        "<|assistant|>\nHi there<|endoftext|>\n"
        "<|user|>\nWho are you\n"
        "<|assistant|>\n   I am an assistant   <|endoftext|>\n"
        "<|user|>\nAnother question\n"
        "<|assistant|>\n");
  // The last assistant turn gets no newline after its EOS.
  std::vector<ChatMessage> answered(kConversation.begin(), kConversation.begin() + 3);
  CHECK(apply_chat_template(ChatFormat::Tulu, answered, false) ==
        "<|system|>\nYou are a helpful assistant\n<|user|>\nHello\n<|assistant|>\nHi there<|endoftext|>");
}

TEST_CASE("an unknown format is refused") {
  CHECK_THROWS_AS(apply_chat_template(ChatFormat::Unknown, kConversation, true), std::invalid_argument);
}
