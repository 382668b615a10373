// Splits of every pre-tokenizer type llama.cpp knows (tokenizer.ggml.pre), each expected split
// worked out by hand from the regexes of the models' tokenizer.json files.
#include <doctest/doctest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/tokenizer/pretokenizer.h"
#include "runtime/tokenizer/pretokenizer_specs.h"

using namespace vkmoe;

namespace {

using V = std::vector<std::string>;

V split(std::string_view name, std::string_view text) {
  V out;
  for (std::string_view w : PreTokenizer(name).split(text)) out.emplace_back(w);
  return out;
}

// Texts in several scripts (UTF-8 spelt out): a combining acute accent, Cyrillic, CJK, Hangul,
// Thai, an emoji.
const std::string kAcute = "e\xCC\x81te";                                       // e + U+0301 + "te"
const std::string kPrivet = "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82";  // Привет
const std::string kNihao = "\xE4\xBD\xA0\xE5\xA5\xBD";                          // 你好
const std::string kShijie = "\xE4\xB8\x96\xE7\x95\x8C";                         // 世界
const std::string kEcole = "\xC3\x89" "COLE";                                   // ÉCOLE
const std::string kSmile = "\xF0\x9F\x99\x82";                                  // U+1F642
const std::string kAnnyeong = "\xEC\x95\x88\xEB\x85\x95";                       // 안녕
const std::string kThai = "\xE0\xB9\x84\xE0\xB8\x97\xE0\xB8\xA2";               // ไทย
const std::string kFwComma = "\xEF\xBC\x8C";                                    // U+FF0C ，

}  // namespace

TEST_CASE("every name llama.cpp accepts builds, and its words cover the text byte for byte") {
  const std::string text = "Hello World's 1234567 " + kEcole + " " + kAcute + "\n\n  x " + kNihao + kShijie +
                           " " + kSmile + "\t" + kPrivet + " \xFF\xC3 end  ";
  CHECK(pre_tokenizer_names().size() >= 80);
  for (std::string_view name : pre_tokenizer_names()) {
    CAPTURE(name);
    std::string joined;
    for (const std::string& w : split(name, text)) {
      CHECK_FALSE(w.empty());
      joined += w;
    }
    CHECK(joined == text);
    CHECK(split(name, "").empty());
  }
}

TEST_CASE("unknown and non-byte-level pre-tokenizers are refused by name") {
  for (const char* bad : {"no-such-pre", "gpt2", "GPT-4O", "llama 3"}) {
    CAPTURE(bad);
    std::string error;
    try {
      PreTokenizer p(bad);
    } catch (const std::invalid_argument& e) {
      error = e.what();
    }
    CHECK(error.find(std::string("'") + bad + "'") != std::string::npos);
  }
  for (const char* spm_like : {"gemma4", "sarvam-moe", "whitespace", "granite-embed-multi-311m"}) {
    CAPTURE(spm_like);
    CHECK_THROWS_WITH_AS(PreTokenizer{spm_like}, doctest::Contains("not byte-level"), std::invalid_argument);
  }
}

TEST_CASE("default (no tokenizer.ggml.pre) is llama.cpp's default, not GPT-2's") {
  // Punctuation runs are isolated first, then GPT-2's words, digit runs, and threes of ASCII digits.
  CHECK(split("", "Hello World's 1234567 ok") == V{"Hello", " World", "'", "s", " ", "123", "456", "7", " ok"});
  CHECK(split("default", "a+=b; c!=d") == V{"a", "+=", "b", ";", " c", "!=", "d"});
  CHECK(split("gpt-2", "Hello World's 1234567 ok") == V{"Hello", " World", "'s", " 1234567", " ok"});
  CHECK(split("mpt", "a  b\n\n  x") == V{"a", " ", " b", "\n\n ", " x"});
  CHECK(split("olmo", "I'VE don't") == V{"I", "'", "VE", " don", "'t"});  // contractions are lower case only
}

TEST_CASE("llama 3 family: digits in threes, case-insensitive contractions, newline runs") {
  for (std::string name : {"llama3", "llama-bpe", "dbrx", "smaug-bpe", "glm4", "chatglm-bpe", "falcon3", "pixtral"}) {
    CAPTURE(name);
    CHECK(split(name, "Hello World's 1234567 ok") == V{"Hello", " World", "'s", " ", "123", "456", "7", " ok"});
    CHECK(split(name, "I'VE don't " + kSmile + kSmile + " end.") ==
          V{"I", "'VE", " don", "'t", " " + kSmile + kSmile, " end", "."});
    CHECK(split(name, "x\n\n  y") == V{"x", "\n\n", " ", " y"});
    // A combining mark is not a letter here: it starts the next word.
    CHECK(split(name, kAcute + " " + kPrivet) == V{"e", "\xCC\x81te", " " + kPrivet});
    CHECK(split(name, kNihao + kShijie + "abc 123") == V{kNihao + kShijie + "abc", " ", "123"});
  }
  CHECK(PreTokenizer("llama3").ignore_merges());
  CHECK_FALSE(PreTokenizer("dbrx").ignore_merges());
  CHECK_FALSE(PreTokenizer("glm4").ignore_merges());
}

TEST_CASE("o200k (gpt-4o, llama4, minimax-m2): cased words, marks, contractions kept on the word") {
  for (std::string name : {"gpt-4o", "llama4", "minimax-m2", "kanana2", "granite-embed-multi-97m"}) {
    CAPTURE(name);
    CHECK(split(name, "Hello World's 1234567 ok") == V{"Hello", " World's", " ", "123", "456", "7", " ok"});
    CHECK(split(name, "HelloWorld " + kEcole + "'s") == V{"Hello", "World", " " + kEcole + "'s"});
    CHECK(split(name, "I'VE don't " + kSmile + " end.") == V{"I'VE", " don't", " " + kSmile, " end", "."});
    CHECK(split(name, kAcute + " " + kPrivet) == V{kAcute, " " + kPrivet});
    CHECK(split(name, "x.//\n\ny") == V{"x", ".//\n\n", "y"});  // punctuation takes slashes and newlines
    CHECK(split(name, "3.14159") == V{"3", ".", "141", "59"});
  }
  CHECK(PreTokenizer("granite-embed-multi-97m").ignore_merges());
  CHECK_FALSE(PreTokenizer("gpt-4o").ignore_merges());
}

TEST_CASE("tekken and tiny_aya: cased words with single digits / digits grouped from the right") {
  CHECK(split("tekken", "Hello World's 123") == V{"Hello", " World", "'s", " ", "1", "2", "3"});
  CHECK(split("tekken", "HelloWorld x.//\n\ny") == V{"Hello", "World", " x", ".//\n\n", "y"});
  CHECK(PreTokenizer("tekken").ignore_merges());
  for (std::string name : {"tiny_aya", "cohere2moe"}) {
    CAPTURE(name);
    CHECK(split(name, "1234567 123abc") == V{"1", "234", "567", " ", "123", "abc"});
    CHECK(split(name, "Hello World's") == V{"Hello", " World's"});
  }
}

TEST_CASE("kimi-k2: Han runs apart from other letters") {
  CHECK(split("kimi-k2", "Hi" + kNihao + "Bob's " + kShijie + "abc 12345") ==
        V{"Hi", kNihao, "Bob's", " ", kShijie, "abc", " ", "123", "45"});
  CHECK(split("kimi-k2", "HelloWorld\n\n  x") == V{"Hello", "World", "\n\n", " ", " x"});
}

TEST_CASE("qwen2 family and its relatives: single digits") {
  for (std::string name : {"qwen2", "deepseek-r1-qwen", "megrez", "stablelm2", "hunyuan", "grok-2", "solar-open"}) {
    CAPTURE(name);
    CHECK(split(name, "I'm 123\n\n  x") == V{"I", "'m", " ", "1", "2", "3", "\n\n", " ", " x"});
  }
  CHECK(split("qwen35", kAcute + " 12") == V{kAcute, " ", "1", "2"});  // marks join the word
  CHECK(split("ufakzeka", "\xC4\xB0stanbul'da 42") == V{"\xC4\xB0stanbul", "'da", " ", "4", "2"});
  CHECK(split("seed-coder", "a;\r\nb a;;") == V{"a", ";", "\r\n", "b", " a", ";;"});  // no newline after punctuation
  CHECK(split("laguna", "ab\n\ncd ef") == V{"ab", "\n\n", "cd", " ef"});
  CHECK(split("minicpm5", "x1234567y") == V{"x", "123", "456", "7", "y"});
  CHECK(PreTokenizer("minicpm5").ignore_merges());
}

TEST_CASE("starcoder family: each digit alone, then GPT-2's words") {
  for (std::string name : {"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"}) {
    CAPTURE(name);
    CHECK(split(name, "v2.0 1234 it's") == V{"v", "2", ".", "0", " ", "1", "2", "3", "4", " it", "'s"});
  }
  CHECK(split("falcon", "a+=b; c!=d 12345") == V{"a", "+=", "b", ";", " c", "!=", "d", " ", "123", "45"});
}

TEST_CASE("bloom, poro, gpt3-finnish and viking: words end at (.,!?… and white space") {
  for (std::string name : {"bloom", "poro-chat", "gpt3-finnish"}) {
    CAPTURE(name);
    CHECK(split(name, "Hello, world! Tervetuloa. (x|y) 2024") ==
          V{"Hello", ",", " world", "!", " Tervetuloa", ". (", "x", "|", "y", ")", " 2024"});
    CHECK(split(name, kNihao + "\xE3\x80\x82" + kShijie) == V{kNihao, "\xE3\x80\x82", kShijie});  // 。
  }
  CHECK(split("viking", "Tervetuloa 2024!") == V{"Tervetuloa", " ", "2", "0", "2", "4", "!"});
}

TEST_CASE("chameleon: tabs, newlines and double spaces apart, digits and punctuation alone") {
  CHECK(split("chameleon", "IMGIMGABZ a    b\n\nc") == V{"IMGIMGABZ", " a", "    ", "b", "\n", "\n", "c"});
  CHECK(split("chameleon", "x=12;") == V{"x", "=", "1", "2", ";"});
}

TEST_CASE("superbpe: only digit runs split, in threes from the right") {
  CHECK(split("superbpe", "in 2024 it cost 1000000 dollars") ==
        V{"in ", "2", "024", " it cost ", "1", "000", "000", " dollars"});
  CHECK(split("superbpe", "123456") == V{"123", "456"});
}

TEST_CASE("bailingmoe: the possessive quantifiers of Ling's regex") {
  for (std::string name : {"bailingmoe", "bailingmoe2", "llada-moe"}) {
    CAPTURE(name);
    CHECK(split(name, "it's A'LL  !!\n\nz") == V{"it", "'s", " A", "'LL", " ", " !!\n\n", "z"});
    CHECK(split(name, "x\n\n\ny 12") == V{"x", "\n\n\n", "y", " ", "1", "2"});
  }
}

TEST_CASE("exaone-moe joins words across single spaces; jais-2 cascades white space") {
  CHECK(split("exaone-moe", "Hello big world, ok") == V{"Hello big world", ",", " ok"});
  CHECK(split("jais-2", "a     b") == V{"a", "    ", " b"});
  CHECK(split("jais-2", "Hello World's 1234") == V{"Hello", " World", "'s", " ", "123", "4"});
}

TEST_CASE("DeepSeek family and CJK-aware splitters") {
  CHECK(split("deepseek-llm", "Hello, " + kShijie + "! 12345 ok") ==
        V{"Hello", ",", " ", kShijie, "!", " ", "12345", " ok"});
  CHECK(split("deepseek-coder", "Hello, " + kShijie + "! 123") ==
        V{"Hello", ",", " ", kShijie, "!", " ", "1", "2", "3"});
  for (std::string name : {"deepseek-v3", "hunyuan-dense", "joyai-llm", "hy_v4"}) {
    CAPTURE(name);
    CHECK(split(name, "Hello, world! this.cpp 1234") == V{"Hello", ",", " world", "!", " this", ".cpp", " ", "123", "4"});
  }
  CHECK(split("spark2_5", "a!!\nb 12345 " + kNihao) == V{"a", "!!", "\n", "b", " ", "1", "2", "3", "4", "5", " ", kNihao});
  CHECK(split("youtu", kAnnyeong + " " + kNihao + kFwComma + kShijie + " HelloWorld 12") ==
        V{kAnnyeong, " ", kNihao, kFwComma, kShijie, " Hello", "World", " ", "1", "2"});
  CHECK(PreTokenizer("youtu").ignore_merges());
  CHECK(split("afmoe", "x 12345 " + kThai + " " + kNihao + " ab") == V{"x", " ", "12", "345", " ", kThai, " ", kNihao, " ab"});
  CHECK(split("afmoe", "1234567") == V{"1", "234", "567"});
}

TEST_CASE("ICU matches the regex engines where their semantics could differ") {
  // Contractions are spelt out, so ICU's case folding cannot take U+017F (long s) for 's'.
  CHECK(split("llama3", "x'\xC5\xBFt") == V{"x", "'\xC5\xBFt"});
  CHECK(split("gpt-4o", "X'\xC5\xBFt") == V{"X", "'\xC5\xBFt"});
  // U+000B and U+0085 are white space for the models' engines and llama.cpp, not for ICU's \s.
  CHECK(split("llama3", "a\x0B\x0B" "b") == V{"a", "\x0B", "\x0B" "b"});
  CHECK(split("qwen2", "a\xC2\x85\xC2\x85" "b") == V{"a", "\xC2\x85", "\xC2\x85" "b"});
  // Look-ahead ends at the piece's end: trailing white space is one word.
  CHECK(split("gpt-2", "a   ") == V{"a", "   "});
  CHECK(split("gpt-2", "a   b") == V{"a", "  ", " b"});
  // Supplementary-plane letters and digits count as one character each (UTF-16 surrogates).
  CHECK(split("llama3", "\xF0\x90\x90\x80\xF0\x90\x90\x81 \xF0\x9D\x9F\x8E\xF0\x9D\x9F\x8F\xF0\x9D\x9F\x90\xF0\x9D\x9F\x91") ==
        V{"\xF0\x90\x90\x80\xF0\x90\x90\x81", " ", "\xF0\x9D\x9F\x8E\xF0\x9D\x9F\x8F\xF0\x9D\x9F\x90", "\xF0\x9D\x9F\x91"});
  // Malformed UTF-8 is matched as U+FFFD (a symbol) but keeps its own bytes.
  CHECK(split("llama3", "ab\xFF\xFE" "cd") == V{"ab", "\xFF\xFE", "cd"});
  CHECK(split("llama3", "ab\xFF" "cd") == V{"ab", "\xFF" "cd"});
}

TEST_CASE("digit groupings by look-ahead take one pass, not one scan per digit") {
  // A backtracking engine needs minutes here; the bound is loose for busy machines.
  const std::string digits(200000, '7');
  const auto start = std::chrono::steady_clock::now();
  for (std::string name : {"superbpe", "tiny_aya", "afmoe"}) {
    CAPTURE(name);
    const V words = split(name, digits);
    CHECK(words.size() == 66667);
    CHECK(words.front() == "77");
    CHECK(words.back() == "777");
  }
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(20));
  // tiny_aya groups only runs that end at a word boundary; others go to o200k's threes.
  CHECK(split("tiny_aya", "x1234_ 1234.") == V{"x", "123", "4", "_", " ", "1", "234", "."});
}
