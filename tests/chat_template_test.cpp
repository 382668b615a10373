#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
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
  CHECK(detect_chat_format(kPhi3Jinja, "phimoe") == ChatFormat::Phi3);
  CHECK(detect_chat_format("{{ messages }}", "qwen3moe") == ChatFormat::Unknown);  // a template wins over the arch
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

namespace {

// Abridged templates of the new MoE families, with the parts that hold their markers.
constexpr const char* kGptOssJinja =
    "{{- \"<|start|>system<|message|>\" }}{{- build_system_message() }}{{- \"<|end|>\" }}"
    "{{- \"<|start|>assistant<|channel|>final<|message|>\" + message.content + \"<|end|>\" }}";
constexpr const char* kGlm45Jinja =
    "[gMASK]<sop>{%- for m in messages %}{%- if m.role == 'user' %}<|user|>\n{{ m.content }}"
    "{%- elif m.role == 'assistant' -%}<|assistant|>{%- endif %}{%- endfor %}";
constexpr const char* kLlama4Jinja =
    "{{- '<|header_start|>' + message['role'] + '<|header_end|>\\n\\n' }}{{- message['content'] | trim }}"
    "{{- '<|eot|>' }}";
constexpr const char* kErnieJinja =
    "{%- if not cls_token is defined -%}{%- set cls_token = \"<|begin_of_sentence|>\" -%}{%- endif -%}"
    "{{- cls_token -}}{%- for message in messages -%}{%- if message[\"role\"] == \"user\" -%}"
    "{{- \"User: \" + message[\"content\"] + \"\\n\" -}}{%- elif message[\"role\"] == \"assistant\" -%}"
    "{{- \"Assistant: \" + message[\"content\"] + sep_token -}}{%- endif -%}{%- endfor -%}";
constexpr const char* kGraniteJinja =
    "{{- '<|start_of_role|>' + message['role'] + '<|end_of_role|>' + message['content'] + '<|end_of_text|>\\n' }}";
constexpr const char* kDbrxJinja = "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' }}";
constexpr const char* kHunyuanJinja =
    "{{- bos_token }}{{- ns.system_prompt }}{{- '<|extra_4|>' }}{{- message['content'] + '<|extra_0|>' }}";
constexpr const char* kLingJinja =
    "{% set role = message['role'] | upper %}{% if role == 'USER' %}{% set role = 'HUMAN' %}{% endif %}"
    "{{ '<role>' + role + '</role>' + message['content'] }}{% if add_generation_prompt %}<role>ASSISTANT</role>{% endif %}";
constexpr const char* kLing2Jinja =
    "<role>HUMAN</role>{{ message['content'] }}<|role_end|><role>ASSISTANT</role>";
constexpr const char* kMiniMaxJinja =
    "{{- ']~!b[' ~ ']~b]system' ~ '\\n' }}{{- '[e~[' ~ '\\n' }}{{- ']~b]ai' ~ '\\n' ~ '<think>' ~ '\\n' }}";
constexpr const char* kDots1Jinja = "<|userprompt|>{{ message['content'] }}<|endofuserprompt|><|response|>";
constexpr const char* kGrok2Jinja =
    "{{ 'Human: ' + message['content'] | trim + '<|separator|>\\n\\n' }}"
    "{{ 'Assistant: '  + message['content'] + '<|separator|>\\n\\n' }}";
// DeepSeek-MoE 16B chat (v1): the same template as DeepSeek-V2's.
constexpr const char* kDeepSeekMoeJinja =
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
    "{{ 'User: ' + message['content'] + '\\n\\n' }}{% elif message['role'] == 'assistant' %}"
    "{{ 'Assistant: ' + message['content'] + eos_token }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}";
constexpr const char* kKimiJinja = "<|im_user|>user<|im_middle|>{{ c }}<|im_end|><|im_assistant|>assistant<|im_middle|>";
constexpr const char* kDeepSeek3Jinja =
    "{{'<\xEF\xBD\x9CUser\xEF\xBD\x9C>' + message['content']}}{{'<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>' + content + "
    "'<\xEF\xBD\x9C" "end\xE2\x96\x81" "of\xE2\x96\x81" "sentence\xEF\xBD\x9C>'}}";

std::string render(ChatFormat f) { return apply_chat_template(f, kConversation, true); }

}  // namespace

TEST_CASE("the new MoE families' templates are detected by their markers") {
  CHECK(detect_chat_format(kGptOssJinja, "gpt-oss") == ChatFormat::Harmony);
  CHECK(detect_chat_format(kGlm45Jinja, "glm4moe") == ChatFormat::ChatGlm4);
  CHECK(detect_chat_format(kLlama4Jinja, "llama4") == ChatFormat::Llama4);
  CHECK(detect_chat_format(kErnieJinja, "ernie4_5-moe") == ChatFormat::Ernie);
  CHECK(detect_chat_format(kGraniteJinja, "granitemoe") == ChatFormat::Granite);
  CHECK(detect_chat_format(kDbrxJinja, "dbrx") == ChatFormat::ChatMl);
  CHECK(detect_chat_format(kHunyuanJinja, "hunyuan-moe") == ChatFormat::HunyuanMoe);
  CHECK(detect_chat_format(kLingJinja, "bailingmoe") == ChatFormat::Bailing);
  CHECK(detect_chat_format(kLing2Jinja, "bailingmoe2") == ChatFormat::Bailing2);
  CHECK(detect_chat_format(kMiniMaxJinja, "minimax-m2") == ChatFormat::MiniMax);
  CHECK(detect_chat_format(kDots1Jinja, "dots1") == ChatFormat::Dots1);
  CHECK(detect_chat_format(kGrok2Jinja, "grok") == ChatFormat::Grok2);
  CHECK(detect_chat_format(kDeepSeekMoeJinja, "deepseek") == ChatFormat::DeepSeek);
  CHECK(detect_chat_format(kKimiJinja, "deepseek2") == ChatFormat::KimiK2);
  CHECK(detect_chat_format(kDeepSeek3Jinja, "deepseek2") == ChatFormat::DeepSeek3);
  // Without a template, the architecture decides.
  CHECK(detect_chat_format("", "gpt-oss") == ChatFormat::Harmony);
  CHECK(detect_chat_format("", "glm4moe") == ChatFormat::ChatGlm4);
  CHECK(detect_chat_format("", "llama4") == ChatFormat::Llama4);
  CHECK(detect_chat_format("", "phimoe") == ChatFormat::Phi3);
  CHECK(detect_chat_format("", "dbrx") == ChatFormat::ChatMl);
  CHECK(detect_chat_format("", "deepseek") == ChatFormat::DeepSeek);
  CHECK(detect_chat_format("", "grok") == ChatFormat::Unknown);
}

TEST_CASE("--chat-template names round-trip, llama.cpp's aliases are accepted, others refused") {
  const std::string names(chat_format_names());
  for (ChatFormat f : {ChatFormat::Harmony, ChatFormat::ChatGlm4, ChatFormat::Llama4, ChatFormat::Ernie,
                       ChatFormat::Granite, ChatFormat::Phi3, ChatFormat::HunyuanMoe, ChatFormat::Bailing2,
                       ChatFormat::MiniMax, ChatFormat::Dots1, ChatFormat::Grok2, ChatFormat::DeepSeek3}) {
    CAPTURE(chat_format_name(f));
    CHECK(parse_chat_format(chat_format_name(f)) == f);
    CHECK(names.find(std::string(chat_format_name(f))) != std::string::npos);
  }
  CHECK(chat_format_name(ChatFormat::Harmony) == "gpt-oss");
  CHECK(parse_chat_format("deepseek2") == ChatFormat::DeepSeek);
  CHECK(parse_chat_format("mistral-v1") == ChatFormat::Mistral);
  CHECK_THROWS_WITH_AS(parse_chat_format("harmony"), doctest::Contains("gpt-oss"), std::invalid_argument);
}

TEST_CASE("gpt-oss renders as its harmony template: system, developer instructions, final channel") {
  const std::string system =
      "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
      "Knowledge cutoff: 2024-06\nCurrent date: 2025-08-05\n\nReasoning: medium\n\n"
      "# Valid channels: analysis, commentary, final. Channel must be included for every message.<|end|>";
  CHECK(apply_chat_template(ChatFormat::Harmony, kConversation, true, "2025-08-05") ==
        system +
            "<|start|>developer<|message|># Instructions\n\nYou are a helpful assistant\n\n<|end|>"
            "<|start|>user<|message|>Hello<|end|>"
            "<|start|>assistant<|channel|>final<|message|>Hi there<|end|>"
            "<|start|>user<|message|>Who are you<|end|>"
            "<|start|>assistant<|channel|>final<|message|>   I am an assistant   <|end|>"
            "<|start|>user<|message|>Another question<|end|>"
            "<|start|>assistant");
  // No system prompt: no developer message; a finished conversation ends with <|return|>.
  std::vector<ChatMessage> answered = {{"user", "Hi"}, {"assistant", "Hello"}};
  CHECK(apply_chat_template(ChatFormat::Harmony, answered, false, "2025-08-05") ==
        system + "<|start|>user<|message|>Hi<|end|><|start|>assistant<|channel|>final<|message|>Hello<|return|>");
  // Without a date, today's (UTC) is shown.
  CHECK(render(ChatFormat::Harmony).find("Current date: 20") != std::string::npos);
  std::vector<ChatMessage> late_system = {{"user", "Hi"}, {"system", "Be brief"}};
  CHECK_THROWS_AS(apply_chat_template(ChatFormat::Harmony, late_system, true), std::invalid_argument);
  std::vector<ChatMessage> tool = {{"tool", "42"}};
  CHECK_THROWS_AS(apply_chat_template(ChatFormat::Harmony, tool, true), std::invalid_argument);
}

TEST_CASE("GLM-4.5, Llama 4, Llama 3 and Phi-3.5 render as llama.cpp renders them") {
  CHECK(render(ChatFormat::ChatGlm4) ==
        "[gMASK]<sop><|system|>\nYou are a helpful assistant<|user|>\nHello<|assistant|>\nHi there"
        "<|user|>\nWho are you<|assistant|>\n   I am an assistant   <|user|>\nAnother question<|assistant|>\n");
  CHECK(render(ChatFormat::Llama4) ==
        "<|header_start|>system<|header_end|>\n\nYou are a helpful assistant<|eot|>"
        "<|header_start|>user<|header_end|>\n\nHello<|eot|>"
        "<|header_start|>assistant<|header_end|>\n\nHi there<|eot|>"
        "<|header_start|>user<|header_end|>\n\nWho are you<|eot|>"
        "<|header_start|>assistant<|header_end|>\n\nI am an assistant<|eot|>"
        "<|header_start|>user<|header_end|>\n\nAnother question<|eot|>"
        "<|header_start|>assistant<|header_end|>\n\n");
  CHECK(render(ChatFormat::Llama3) ==
        "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nI am an assistant<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nAnother question<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n");
  CHECK(render(ChatFormat::Phi3) ==
        "<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n"
        "<|user|>\nWho are you<|end|>\n<|assistant|>\n   I am an assistant   <|end|>\n"
        "<|user|>\nAnother question<|end|>\n<|assistant|>\n");
}

TEST_CASE("ERNIE-4.5, Granite and Hunyuan render as their templates") {
  CHECK(render(ChatFormat::Ernie) ==
        "<|begin_of_sentence|>You are a helpful assistant\nUser: Hello\nAssistant: Hi there<|end_of_sentence|>"
        "User: Who are you\nAssistant:    I am an assistant   <|end_of_sentence|>"
        "User: Another question\nAssistant: ");
  CHECK(render(ChatFormat::Granite) ==
        "<|start_of_role|>system<|end_of_role|>You are a helpful assistant<|end_of_text|>\n"
        "<|start_of_role|>user<|end_of_role|>Hello<|end_of_text|>\n"
        "<|start_of_role|>assistant<|end_of_role|>Hi there<|end_of_text|>\n"
        "<|start_of_role|>user<|end_of_role|>Who are you<|end_of_text|>\n"
        "<|start_of_role|>assistant<|end_of_role|>   I am an assistant   <|end_of_text|>\n"
        "<|start_of_role|>user<|end_of_role|>Another question<|end_of_text|>\n"
        "<|start_of_role|>assistant<|end_of_role|>");
  CHECK(render(ChatFormat::HunyuanMoe) ==
        "<|startoftext|>You are a helpful assistant<|extra_4|><|startoftext|>Hello<|extra_0|>Hi there<|eos|>"
        "<|startoftext|>Who are you<|extra_0|>   I am an assistant   <|eos|><|startoftext|>Another question<|extra_0|>");
}

TEST_CASE("Ling (v1, think, 2.0) render with upper-case roles") {
  const std::string v1 =
      "<role>SYSTEM</role>You are a helpful assistant<role>HUMAN</role>Hello<role>ASSISTANT</role>Hi there"
      "<role>HUMAN</role>Who are you<role>ASSISTANT</role>   I am an assistant   "
      "<role>HUMAN</role>Another question<role>ASSISTANT</role>";
  CHECK(render(ChatFormat::Bailing) == v1);
  CHECK(render(ChatFormat::BailingThink) == v1 + "<think>");
  CHECK(render(ChatFormat::Bailing2) ==
        "<role>SYSTEM</role>You are a helpful assistant<|role_end|><role>HUMAN</role>Hello<|role_end|>"
        "<role>ASSISTANT</role>Hi there<|role_end|><role>HUMAN</role>Who are you<|role_end|>"
        "<role>ASSISTANT</role>   I am an assistant   <|role_end|><role>HUMAN</role>Another question<|role_end|>"
        "<role>ASSISTANT</role>");
  std::vector<ChatMessage> no_system = {{"user", "Hi"}};
  CHECK(apply_chat_template(ChatFormat::Bailing2, no_system, true) ==
        "<role>SYSTEM</role>detailed thinking off<|role_end|><role>HUMAN</role>Hi<|role_end|><role>ASSISTANT</role>");
}

TEST_CASE("MiniMax-M2, dots.llm1, Grok 2, Kimi K2 and DeepSeek-V3 render as their templates") {
  CHECK(render(ChatFormat::MiniMax) ==
        "]~!b[]~b]system\nYou are a helpful assistant[e~[\n]~b]user\nHello[e~[\n]~b]ai\nHi there[e~[\n"
        "]~b]user\nWho are you[e~[\n]~b]ai\n   I am an assistant   [e~[\n]~b]user\nAnother question[e~[\n"
        "]~b]ai\n<think>\n");
  std::vector<ChatMessage> no_system = {{"user", "Hi"}};
  CHECK(apply_chat_template(ChatFormat::MiniMax, no_system, true) ==
        "]~!b[]~b]system\nYou are a helpful assistant.[e~[\n]~b]user\nHi[e~[\n]~b]ai\n<think>\n");
  CHECK(render(ChatFormat::Dots1) ==
        "<|system|>You are a helpful assistant<|endofsystem|><|userprompt|>Hello<|endofuserprompt|>"
        "<|response|>Hi there<|endofresponse|><|userprompt|>Who are you<|endofuserprompt|>"
        "<|response|>   I am an assistant   <|endofresponse|><|userprompt|>Another question<|endofuserprompt|>"
        "<|response|>");
  CHECK(render(ChatFormat::Grok2) ==
        "System: You are a helpful assistant<|separator|>\n\nHuman: Hello<|separator|>\n\n"
        "Assistant: Hi there<|separator|>\n\nHuman: Who are you<|separator|>\n\n"
        "Assistant:    I am an assistant   <|separator|>\n\nHuman: Another question<|separator|>\n\nAssistant:");
  CHECK(render(ChatFormat::KimiK2) ==
        "<|im_system|>system<|im_middle|>You are a helpful assistant<|im_end|>"
        "<|im_user|>user<|im_middle|>Hello<|im_end|><|im_assistant|>assistant<|im_middle|>Hi there<|im_end|>"
        "<|im_user|>user<|im_middle|>Who are you<|im_end|>"
        "<|im_assistant|>assistant<|im_middle|>   I am an assistant   <|im_end|>"
        "<|im_user|>user<|im_middle|>Another question<|im_end|><|im_assistant|>assistant<|im_middle|>");
  const std::string user = "<\xEF\xBD\x9CUser\xEF\xBD\x9C>", assistant = "<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>";
  const std::string eos = "<\xEF\xBD\x9C" "end\xE2\x96\x81" "of\xE2\x96\x81" "sentence\xEF\xBD\x9C>";
  CHECK(render(ChatFormat::DeepSeek3) == "You are a helpful assistant\n\n" + user + "Hello" + assistant + "Hi there" +
                                             eos + user + "Who are you" + assistant + "   I am an assistant   " +
                                             eos + user + "Another question" + assistant);
  std::vector<ChatMessage> tool = {{"user", "Hi"}, {"tool", "42"}};
  for (ChatFormat f : {ChatFormat::MiniMax, ChatFormat::Dots1, ChatFormat::Grok2, ChatFormat::KimiK2,
                       ChatFormat::Ernie, ChatFormat::Bailing2, ChatFormat::HunyuanMoe}) {
    CAPTURE(chat_format_name(f));
    CHECK_THROWS_AS(apply_chat_template(f, tool, true), std::invalid_argument);
  }
}
