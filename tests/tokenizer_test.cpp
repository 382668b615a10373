#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "runtime/tokenizer/pretokenizer.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tokenizer/unicode.h"
#include "tests/test_util.h"

using namespace vkmoe;

namespace {

// A byte-level vocabulary: the 256 byte characters, then the merges' results, then specials.
Vocab tiny_bpe_vocab() {
  Vocab v;
  v.model = "gpt2";
  v.pre = "qwen2";
  for (int b = 0; b < 256; ++b) v.tokens.emplace_back(byte_to_unicode(static_cast<unsigned char>(b)));
  v.types.assign(256, TokenType::Normal);
  for (const char* m : {"h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "Ġwor l", "Ġworl d"}) {
    v.merges.emplace_back(m);
    std::string merged(m);
    merged.erase(merged.find(' '), 1);
    v.tokens.push_back(merged);
    v.types.push_back(TokenType::Normal);
  }
  v.tokens.emplace_back("<|im_end|>");
  v.types.push_back(TokenType::Control);
  v.tokens.emplace_back("<think>");
  v.types.push_back(TokenType::UserDefined);
  v.eos = int32_t(v.tokens.size()) - 2;
  return v;
}

int32_t id_of(const Tokenizer& t, std::string_view text) {
  for (size_t i = 0; i < t.vocab_size(); ++i) {
    if (t.vocab().tokens[i] == text) return int32_t(i);
  }
  return kNoToken;
}

}  // namespace

TEST_CASE("byte map is GPT-2's and reversible") {
  CHECK(byte_to_unicode('A') == "A");
  CHECK(byte_to_unicode(' ') == "\xC4\xA0");   // U+0120 Ġ
  CHECK(byte_to_unicode('\n') == "\xC4\x8A");  // U+010A Ċ
  CHECK(byte_to_unicode(0xAD) == "\xC5\x83");  // U+0143, the last image
  for (int b = 0; b < 256; ++b) {
    std::string_view s = byte_to_unicode(static_cast<unsigned char>(b));
    char32_t cp;
    REQUIRE(utf8_decode(s, 0, cp) == s.size());
    CHECK(unicode_to_byte(cp) == b);
  }
}

TEST_CASE("utf8_complete_prefix holds back only an unfinished character") {
  std::string euro = "\xE2\x82\xAC";
  CHECK(utf8_complete_prefix("ab") == 2);
  CHECK(utf8_complete_prefix("a" + euro.substr(0, 1)) == 1);
  CHECK(utf8_complete_prefix("a" + euro.substr(0, 2)) == 1);
  CHECK(utf8_complete_prefix("a" + euro) == 4);
  CHECK(utf8_complete_prefix("a\xF0\x9F\xA6") == 1);
  CHECK(utf8_complete_prefix("a\xFF") == 2);       // malformed: nothing can complete it
  CHECK(utf8_complete_prefix("a\xE2" "b") == 3);   // broken sequence: emitted (as U+FFFD)
  CHECK(utf8_sanitize("a\xE2" "b") == "a\xEF\xBF\xBD" "b");
}

TEST_CASE("pre-tokenizers split like the models' regexes") {
  using V = std::vector<std::string_view>;
  CHECK(PreTokenizer("gpt2").split("Hello world's  end 123") ==
        V{"Hello", " world", "'s", " ", " end", " 123"});
  CHECK(PreTokenizer("qwen2").split("I'm 123\n\n  x") == V{"I", "'m", " ", "1", "2", "3", "\n\n", " ", " x"});
  CHECK(PreTokenizer("llama-bpe").split("12345 ok") == V{"123", "45", " ok"});
  CHECK(PreTokenizer("llama-bpe").ignore_merges());
  CHECK(PreTokenizer("deepseek-v3").split("ab 1234") == V{"ab", " ", "123", "4"});
  CHECK_THROWS_AS(PreTokenizer("no-such-pre"), std::invalid_argument);
}

TEST_CASE("byte-level BPE merges by rank and parses special tokens on request") {
  Tokenizer t(tiny_bpe_vocab());
  std::vector<int32_t> ids = t.encode("hello world");
  REQUIRE(ids.size() == 2);
  CHECK(ids[0] == id_of(t, "hello"));
  CHECK(ids[1] == id_of(t, "Ġworld"));
  CHECK(t.decode(ids) == "hello world");

  int32_t im_end = id_of(t, "<|im_end|>");
  CHECK(t.encode("hello<|im_end|>", false, true) == std::vector<int32_t>{ids[0], im_end});
  CHECK(t.encode("hello<|im_end|>", false, false).size() > 2);
  CHECK(t.is_end_of_turn(im_end));
  CHECK_FALSE(t.is_end_of_turn(ids[0]));
  // User-defined tokens are plain text that always maps to its token.
  CHECK(t.encode("<think>").size() == 1);
  CHECK(t.decode(std::vector<int32_t>{im_end, ids[0]}, false) == "hello");
}
