// gpt-oss's harmony channels parsed from a mock token stream: every split of the text, replies
// without a final channel, unknown channels, tool calls and the stop tokens.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "runtime/tokenizer/chat_template.h"
#include "runtime/tokenizer/harmony.h"

using namespace vkmoe;

namespace {

struct Parsed {
  std::string content, reasoning, hidden;
  bool ended = false, replied = false;
};

// Feeds pieces in order, then finishes.
Parsed parse_pieces(const std::vector<std::string>& pieces) {
  Parsed p;
  HarmonyParser parser([&](ReplyChannel c, std::string_view t) {
    CHECK(!t.empty());
    (c == ReplyChannel::content ? p.content : c == ReplyChannel::reasoning ? p.reasoning : p.hidden) += t;
  });
  for (const auto& s : pieces) parser.push(s);
  p.ended = parser.ended();
  parser.finish();
  p.replied = parser.replied();
  return p;
}

Parsed parse(const std::string& text) { return parse_pieces({text}); }

const std::string kReply =
    "<|channel|>analysis<|message|>The user greets; answer < 5 words.<|end|>"
    "<|start|>assistant<|channel|>final<|message|>Hi <there> | friend!";

}  // namespace

TEST_CASE("harmony: analysis is reasoning, final is the reply, at every split of the text") {
  const Parsed whole = parse(kReply);
  CHECK(whole.reasoning == "The user greets; answer < 5 words.");
  CHECK(whole.content == "Hi <there> | friend!");
  CHECK(whole.hidden.empty());
  CHECK(whole.replied);
  CHECK(!whole.ended);
  for (size_t i = 0; i <= kReply.size(); ++i) {
    for (size_t j = i; j <= kReply.size(); j += 7) {  // a second split after the first
      const Parsed p = parse_pieces({kReply.substr(0, i), kReply.substr(i, j - i), kReply.substr(j)});
      CHECK_MESSAGE(p.content == whole.content, "split at " << i << ", " << j);
      CHECK_MESSAGE(p.reasoning == whole.reasoning, "split at " << i << ", " << j);
    }
  }
  std::vector<std::string> bytes;
  for (char c : kReply) bytes.emplace_back(1, c);
  const Parsed b = parse_pieces(bytes);
  CHECK(b.content == whole.content);
  CHECK(b.reasoning == whole.reasoning);
}

TEST_CASE("harmony: text streams out as soon as it cannot be part of a marker") {
  std::string content;
  HarmonyParser parser([&](ReplyChannel c, std::string_view t) {
    if (c == ReplyChannel::content) content += t;
  });
  parser.push("<|channel|>final<|mess");
  CHECK(content.empty());
  parser.push("age|>a < b");
  CHECK(content == "a < b");
  parser.push(" <|");
  CHECK(content == "a < b ");  // "<|" may open <|end|>
  parser.push("x");
  CHECK(content == "a < b <|x");
  parser.push("<|en");
  CHECK(content == "a < b <|x");
  parser.push("d|>");
  parser.finish();
  CHECK(content == "a < b <|x");
}

TEST_CASE("harmony: a reply without a final channel has no reply text") {
  const Parsed p = parse("<|channel|>analysis<|message|>thinking, then out of tokens");
  CHECK(p.reasoning == "thinking, then out of tokens");
  CHECK(p.content.empty());
  CHECK(!p.replied);
  // Cut inside the next header: nothing of the header shows.
  const Parsed cut = parse("<|channel|>analysis<|message|>hmm<|end|><|start|>assistant<|channel|>fin");
  CHECK(cut.reasoning == "hmm");
  CHECK(cut.content.empty());
  CHECK(cut.hidden.empty());
  CHECK(parse("").content.empty());
}

TEST_CASE("harmony: unknown channels, headers without one and tool calls are neither reply nor reasoning") {
  const Parsed p = parse("<|channel|>secret<|message|>x<|end|><|start|>assistant<|message|>no channel<|end|>"
                         "<|start|>assistant<|channel|>final<|message|>y");
  CHECK(p.content == "y");
  CHECK(p.hidden == "xno channel");
  CHECK(p.reasoning.empty());
  const Parsed call = parse("<|channel|>analysis<|message|>need weather<|end|>"
                            "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json"
                            "<|message|>{\"city\":\"Oslo\"}<|call|>");
  CHECK(call.reasoning == "need weather");
  CHECK(call.hidden == "{\"city\":\"Oslo\"}");
  CHECK(call.content.empty());
  CHECK(call.ended);
  const Parsed in_role = parse("<|start|>assistant to=functions.f<|channel|>commentary json<|message|>{}<|end|>");
  CHECK(in_role.hidden == "{}");
  // A preamble (commentary without a recipient) and a constrained final message are the reply.
  const Parsed pre = parse("<|channel|>commentary<|message|>Checking. <|end|>"
                           "<|start|>assistant<|channel|>final <|constrain|>json<|message|>{}");
  CHECK(pre.content == "Checking. {}");
}

TEST_CASE("harmony: <|return|> and <|call|> end the turn; later text is ignored") {
  const Parsed r = parse_pieces({"<|channel|>final<|message|>Done.<|ret", "urn|>", "<|start|>assistant<|channel|>final<|message|>more"});
  CHECK(r.content == "Done.");
  CHECK(r.ended);
  const Parsed c = parse("<|channel|>analysis<|message|>a<|call|>b");
  CHECK(c.reasoning == "a");
  CHECK(c.content.empty());
  CHECK(c.ended);
  CHECK(parse("<|start|>assistant<|return|>x").ended);
}

TEST_CASE("harmony: a reply that opens with plain text is the reply") {
  const Parsed p = parse_pieces({"Hel", "lo <", "|end|> there"});
  CHECK(p.content == "Hello ");
  CHECK(p.replied);
  // A header that starts like one but is text after all.
  CHECK(parse_pieces({"<|cha", "t>"}).content == "<|chat>");
  CHECK(parse_pieces({"<", " 3"}).content == "< 3");
}

TEST_CASE("harmony template: the last reply's analysis only where the template keeps it") {
  const std::vector<ChatMessage> h = {{"user", "Hi"}, {"assistant", "Hello", "greet back"}};
  const std::string done = apply_chat_template(ChatFormat::Harmony, h, false, "2025-08-05");
  CHECK(done.ends_with("<|start|>user<|message|>Hi<|end|><|start|>assistant<|channel|>analysis<|message|>greet back<|end|>"
                       "<|start|>assistant<|channel|>final<|message|>Hello<|return|>"));
  auto next = h;
  next.push_back({"user", "Bye"});
  const std::string prompt = apply_chat_template(ChatFormat::Harmony, next, true, "2025-08-05");
  CHECK(prompt.find("greet back") == std::string::npos);  // earlier analysis is dropped
  CHECK(prompt.ends_with("<|start|>assistant<|channel|>final<|message|>Hello<|end|>"
                         "<|start|>user<|message|>Bye<|end|><|start|>assistant"));
}
