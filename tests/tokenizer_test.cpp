#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "runtime/gguf/gguf_reader.h"
#include "runtime/gguf/gguf_writer.h"
#include "runtime/tokenizer/pretokenizer.h"
#include "runtime/tokenizer/pretokenizer_specs.h"
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

// The vocabulary as a converter would write it into a GGUF file.
GgufFile vocab_file(const Vocab& v, std::string name) {
  GgufWriter w;
  w.set_string("tokenizer.ggml.model", v.model);
  w.set_string("tokenizer.ggml.pre", v.pre);
  w.set_array("tokenizer.ggml.tokens", std::span<const std::string>(v.tokens));
  std::vector<int32_t> types;
  for (TokenType t : v.types) types.push_back(int32_t(t));
  w.set_array("tokenizer.ggml.token_type", std::span<const int32_t>(types));
  w.set_array("tokenizer.ggml.merges", std::span<const std::string>(v.merges));
  w.set_uint32("tokenizer.ggml.eos_token_id", uint32_t(v.eos));
  w.set_uint32("tokenizer.ggml.bos_token_id", 100000);  // out of range: ignored
  w.set_string("tokenizer.chat_template", "{{'<|im_start|>' + message['role']}}");
  return GgufFile::from_memory(w.to_bytes(), std::move(name));
}

// Feeds ids one at a time; every piece that comes out must be whole UTF-8 characters.
std::string stream(const Tokenizer& t, const std::vector<int32_t>& ids) {
  StreamDecoder d(t);
  std::string all;
  for (int32_t id : ids) {
    std::string piece = d.push(id);
    CHECK(utf8_complete_prefix(piece) == piece.size());
    CHECK(utf8_sanitize(piece) == piece);
    all += piece;
  }
  return all + d.flush();
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in, "cannot read " << path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// ggml-vocab-<name>.gguf.inp / .out from shared/tokenizer: texts and the ids they must give.
struct VocabCases {
  std::vector<std::string> texts;
  std::vector<std::vector<int32_t>> ids;
};

VocabCases read_cases(const std::filesystem::path& gguf) {
  VocabCases c;
  std::string inp = read_file(gguf.string() + ".inp");
  const std::string sep = "\n__ggml_vocab_test__\n";
  for (size_t pos = 0, next; (next = inp.find(sep, pos)) != std::string::npos; pos = next + sep.size()) {
    c.texts.push_back(inp.substr(pos, next - pos));  // what follows the last separator is empty
  }
  std::istringstream out(read_file(gguf.string() + ".out"));
  for (std::string line; std::getline(out, line);) {
    std::istringstream words(line);
    c.ids.emplace_back();
    for (int32_t id; words >> id;) c.ids.back().push_back(id);
  }
  return c;
}

std::string show(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += " " + std::to_string(id);
  return s;
}

// The shared vocabularies; none (and a note saying the test skips) when shared/ is absent.
std::vector<std::filesystem::path> shared_vocabs() {
  std::filesystem::path dir = vkmoe::test::shared_dir();
  if (dir.empty()) {
    MESSAGE("shared/ is absent: skipping the vocabulary tests");
    return {};
  }
  std::vector<std::filesystem::path> files;
  for (const char* name : {"llama-spm", "deepseek-llm", "qwen3"}) {
    files.push_back(dir / "tokenizer" / (std::string("ggml-vocab-") + name + ".gguf"));
  }
  return files;
}

}  // namespace

TEST_CASE("every shared vocabulary text gives exactly the expected ids") {
  auto vocabs = shared_vocabs();
  if (vocabs.empty()) return;
  for (const auto& path : vocabs) {
    CAPTURE(path.filename().string());
    Tokenizer t = Tokenizer::from_gguf(GgufFile::open(path));
    VocabCases c = read_cases(path);
    REQUIRE(c.texts.size() == c.ids.size());
    REQUIRE(c.texts.size() > 0);
    int failed = 0, lossy = 0;
    for (size_t i = 0; i < c.texts.size(); ++i) {
      std::vector<int32_t> got = t.encode(c.texts[i]);
      if (got != c.ids[i]) {
        ++failed;
        MESSAGE(path.filename().string() << " text " << i << " [" << c.texts[i] << "]\n expected" << show(c.ids[i])
                                         << "\n got     " << show(got));
      }
      if (t.decode(got) != c.texts[i]) {
        ++lossy;
        MESSAGE(path.filename().string() << " text " << i << " does not decode back: [" << t.decode(got) << "]");
      }
    }
    CHECK(failed == 0);
    CHECK(lossy == 0);
  }
}

TEST_CASE("the names llama.cpp gives Qwen2's regex give the qwen3 vocabulary's exact ids") {
  for (const std::filesystem::path& path : shared_vocabs()) {
    if (path.filename() != "ggml-vocab-qwen3.gguf") continue;
    const VocabCases c = read_cases(path);
    for (const char* pre : {"deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2", "hunyuan", "solar-open", "grok-2"}) {
      CAPTURE(pre);
      Vocab v = load_vocab(GgufFile::open(path));
      v.pre = pre;
      const Tokenizer t(std::move(v));
      for (size_t i = 0; i < c.texts.size(); ++i) CHECK(t.encode(c.texts[i]) == c.ids[i]);
    }
  }
}

TEST_CASE("every pre-tokenizer covers llama.cpp's vocabulary test texts byte for byte") {
  for (const std::filesystem::path& path : shared_vocabs()) {
    const VocabCases c = read_cases(path);
    for (std::string_view name : pre_tokenizer_names()) {
      CAPTURE(name);
      const PreTokenizer pre(name);
      for (const std::string& text : c.texts) {
        std::string joined;
        for (std::string_view w : pre.split(text)) joined += w;
        CHECK(joined == text);
      }
    }
  }
}

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
  CHECK(PreTokenizer("gpt-2").split("Hello world's  end 123") ==
        V{"Hello", " world", "'s", " ", " end", " 123"});
  CHECK(PreTokenizer("qwen2").split("I'm 123\n\n  x") == V{"I", "'m", " ", "1", "2", "3", "\n\n", " ", " x"});
  CHECK(PreTokenizer("llama-bpe").split("12345 ok") == V{"123", "45", " ok"});
  CHECK(PreTokenizer("llama-bpe").ignore_merges());
  CHECK(PreTokenizer("llama-bpe").split("I'M here\t\n") == V{"I", "'M", " here", "\t\n"});
  CHECK(PreTokenizer("olmo").split("a  b") == V{"a", " ", " b"});
  CHECK(PreTokenizer("deepseek-v3").split("ab 1234") == V{"ab", " ", "123", "4"});
  CHECK(PreTokenizer("deepseek-v3").split("Hello, world! this.cpp") ==
        V{"Hello", ",", " world", "!", " this", ".cpp"});
  CHECK(PreTokenizer("deepseek-v3").split("\xE4\xBD\xA0\xE5\xA5\xBD" "abc") == V{"\xE4\xBD\xA0\xE5\xA5\xBD", "abc"});
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
  // User-defined tokens too are parsed only on request.
  CHECK(t.encode("<think>", false, true) == std::vector<int32_t>{id_of(t, "<think>")});
  CHECK(t.encode("<think>").size() == 7);
  CHECK(t.decode(std::vector<int32_t>{im_end, ids[0]}, false) == "hello");
}

TEST_CASE("turns end where the new families end them; gpt-oss's <|end|> does not end a reply") {
  auto with_specials = [](std::initializer_list<const char*> names) {
    Vocab v = tiny_bpe_vocab();
    for (const char* n : names) {
      v.tokens.emplace_back(n);
      v.types.push_back(TokenType::Control);
    }
    return Tokenizer(v);
  };
  Tokenizer harmony = with_specials({"<|start|>", "<|end|>", "<|return|>", "<|call|>", "<|channel|>"});
  CHECK_FALSE(harmony.is_end_of_turn(id_of(harmony, "<|end|>")));
  CHECK(harmony.is_end_of_turn(id_of(harmony, "<|return|>")));
  CHECK(harmony.is_end_of_turn(id_of(harmony, "<|call|>")));
  CHECK(harmony.vocab().eot != id_of(harmony, "<|end|>"));
  Tokenizer phi = with_specials({"<|end|>", "<|assistant|>"});  // Phi-3.5: <|end|> does end a turn
  CHECK(phi.is_end_of_turn(id_of(phi, "<|end|>")));
  Tokenizer others = with_specials({"<|eot|>", "<|end_of_sentence|>", "<|endofresponse|>", "<|role_end|>", "[e~["});
  for (const char* end : {"<|eot|>", "<|end_of_sentence|>", "<|endofresponse|>", "<|role_end|>", "[e~["}) {
    CAPTURE(end);
    CHECK(others.is_end_of_turn(id_of(others, end)));
  }
}

TEST_CASE("load_vocab reads tokenizer.ggml.* and from_gguf names the file it refuses") {
  Vocab tiny = tiny_bpe_vocab();
  GgufFile file = vocab_file(tiny, "tiny.gguf");
  Vocab v = load_vocab(file);
  CHECK(v.tokens == tiny.tokens);
  CHECK(v.merges == tiny.merges);
  CHECK(v.types == tiny.types);
  CHECK(v.eos == tiny.eos);
  CHECK(v.bos == kNoToken);
  CHECK(v.chat_template.find("<|im_start|>") != std::string::npos);
  CHECK(Tokenizer::from_gguf(file).encode("hello world") == Tokenizer(tiny).encode("hello world"));

  // Without add_bos_token, BOS goes first for the pre-tokenizers llama.cpp adds it for.
  CHECK_FALSE(v.add_bos);
  tiny.pre = "llama-bpe";
  CHECK(load_vocab(vocab_file(tiny, "tiny.gguf")).add_bos);
  tiny.pre = "tekken";
  CHECK(load_vocab(vocab_file(tiny, "tiny.gguf")).add_bos);

  {
    GgufWriter w;
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_array("tokenizer.ggml.tokens", std::span<const std::string>(tiny.tokens));
    CHECK_THROWS_WITH_AS(load_vocab(GgufFile::from_memory(w.to_bytes(), "nomerges.gguf")),
                         doctest::Contains("nomerges.gguf"), std::runtime_error);
  }

  tiny.pre = "made-up";
  std::string error;
  try {
    Tokenizer::from_gguf(vocab_file(tiny, "tiny.gguf"));
  } catch (const std::runtime_error& e) {
    error = e.what();
  }
  CHECK(error.find("tiny.gguf") != std::string::npos);
  CHECK(error.find("made-up") != std::string::npos);
  tiny.model = "bert";
  CHECK_THROWS_AS(Tokenizer{tiny}, std::invalid_argument);
}

TEST_CASE("the stream decoder holds back partial characters") {
  Tokenizer t(tiny_bpe_vocab());
  std::string text = "\xE2\x82\xAC h\xC3\xA9 \xF0\x9F\xA6\x99";  // "€ hé 🦙", one token per byte
  std::vector<int32_t> ids = t.encode(text);
  REQUIRE(ids.size() == text.size());
  StreamDecoder d(t);
  CHECK(d.push(ids[0]) == "");
  CHECK(d.push(ids[1]) == "");
  CHECK(d.push(ids[2]) == "\xE2\x82\xAC");
  CHECK(stream(t, ids) == text);
  // An unfinished character at the end comes out as U+FFFD.
  StreamDecoder cut(t);
  CHECK(cut.push(ids[0]) == "");
  CHECK(cut.flush() == "\xEF\xBF\xBD");
  CHECK(cut.flush() == "");
}

TEST_CASE("shared vocabularies: streaming, special tokens, BOS and end of turn") {
  auto vocabs = shared_vocabs();
  if (vocabs.empty()) return;
  const std::string text = "Hi \xF0\x9F\xA6\x99\xF0\x9F\x98\xB6\xE2\x80\x8D\xF0\x9F\x8C\xAB\xEF\xB8\x8F "
                           "\xE6\x88\x91\xE6\x83\xB3 \xE1\x9E\x80\xE1\x9E\xB6 caf\xC3\xA9!";  // emoji, ZWJ, CJK, Khmer
  for (const auto& path : vocabs) {
    CAPTURE(path.filename().string());
    Tokenizer t = Tokenizer::from_gguf(GgufFile::open(path));
    std::vector<int32_t> ids = t.encode(text);
    CHECK(stream(t, ids) == text);
    CHECK(t.decode(ids) == text);

    // The first and last control tokens (BOS/EOS or <|endoftext|>...) written in the text.
    int32_t first = kNoToken, last = kNoToken;
    for (int32_t id = 0; id < int32_t(t.vocab_size()); ++id) {
      if (t.vocab().type(id) != TokenType::Control) continue;
      if (first == kNoToken) first = id;
      last = id;
    }
    REQUIRE(first != kNoToken);
    std::string with_specials = t.token_piece(first) + "Hello" + t.token_piece(last);
    std::vector<int32_t> parsed = t.encode(with_specials, false, true);
    CHECK(parsed.front() == first);
    CHECK(parsed.back() == last);
    CHECK(t.decode(parsed) == with_specials);
    CHECK(t.decode(parsed, false) == "Hello");
    std::vector<int32_t> plain = t.encode(with_specials);
    CHECK(std::find(plain.begin(), plain.end(), first) == plain.end());
    CHECK(std::find(plain.begin(), plain.end(), last) == plain.end());
    CHECK(t.decode(plain) == with_specials);

    std::vector<int32_t> with_bos = t.encode("Hello", true);
    CHECK((with_bos.front() == t.bos()) == t.add_bos());
    CHECK(t.is_end_of_turn(t.eos()));
    CHECK_FALSE(t.is_end_of_turn(t.encode("Hello").front()));
  }
}

TEST_CASE("DeepSeek's added byte tokens stand for bytes") {
  auto vocabs = shared_vocabs();
  if (vocabs.empty()) return;
  Tokenizer t = Tokenizer::from_gguf(GgufFile::open(vocabs[1]));
  REQUIRE(t.vocab().tokens[100002] == "\xC3\xB8");  // "ø", the image of byte 0xF8
  CHECK(t.token_piece(100002) == "\xF8");
  CHECK(t.encode("\xF8") == std::vector<int32_t>{100002});
  CHECK(t.encode("\xC3\xB8", false, true) != std::vector<int32_t>{100002});  // the letter ø is text
  CHECK(t.is_end_of_turn(100001));
  CHECK(t.encode("Hi", true).front() == 100000);
}
