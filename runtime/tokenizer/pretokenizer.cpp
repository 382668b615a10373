#include "runtime/tokenizer/pretokenizer.h"

#include <unicode/regex.h>
#include <unicode/unistr.h>

#include <stdexcept>
#include <string>

#include "runtime/tokenizer/unicode.h"

namespace vkmoe {
namespace {

// The regexes as the models' tokenizer.json files have them (case-insensitive contractions
// spelt out, as llama.cpp does, so that ICU's case folding cannot match e.g. U+017F for 's').
constexpr const char* kGpt2 =
    R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)re";
constexpr const char* kLlama3 =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr const char* kQwen2 =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// DeepSeek LLM's letter class: the cased letters of some older Unicode, written as code points
// because several of them (U+1FBE, U+2126, U+212A...) would turn into others under NFC.
constexpr const char* kDeepSeekLetters =
    R"re(\x{41}-\x{5A}\x{61}-\x{7A}\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF})re"
    R"re(\x{1C4}-\x{293}\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386})re"
    R"re(\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F})re"
    R"re(\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA})re"
    R"re(\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15})re"
    R"re(\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B})re"
    R"re(\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4})re"
    R"re(\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4})re"
    R"re(\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124})re"
    R"re(\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F})re"
    R"re(\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4})re"
    R"re(\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F})re"
    R"re(\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17})re"
    R"re(\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB})re"
    R"re(\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF}\x{1E900}-\x{1E943})re";
// CJK ideographs, everything from U+0800 up to them, and Hangul (DeepSeek LLM and Coder).
constexpr const char* kDeepSeekCjk = R"re([\x{4E00}-\x{9FA5}\x{0800}-\x{4E00}\x{AC00}-\x{D7FF}]+)re";

struct Spec {
  std::vector<std::string> regexes;
  bool ignore_merges = false;
};

Spec spec_for(std::string_view name) {
  if (name.empty() || name == "default" || name == "gpt2" || name == "gpt-2" || name == "olmo" ||
      name == "mpt" || name == "phi-2") {
    return {{kGpt2}};
  }
  if (name == "llama-bpe" || name == "llama3" || name == "llama-v3") return {{kLlama3}, true};
  if (name == "dbrx" || name == "smaug-bpe") return {{kLlama3}};
  if (name == "qwen2" || name == "deepseek-r1-qwen" || name == "stablelm2") return {{kQwen2}};
  if (name == "deepseek-llm") {
    return {{R"re([\r\n])re", std::string(R"re(\s?[)re") + kDeepSeekLetters + "]+",
             R"re(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)re",
             R"re(\s+$)re", kDeepSeekCjk, R"re(\p{N}+)re"}};
  }
  if (name == "deepseek-coder") {
    return {{R"re([\r\n])re", R"re(\s?\p{L}+)re", R"re(\s?\p{P}+)re", kDeepSeekCjk, R"re(\p{N})re"}};
  }
  if (name == "deepseek-v3") {
    return {{R"re(\p{N}{1,3})re", R"re([\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)re",
             // The first class is ASCII punctuation: ! to /, : to @, [ to `, { to ~ ({ opens a string in ICU sets).
             R"re([!-/:-@\[-`\{-~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re"}};
  }
  throw std::invalid_argument("unsupported pre-tokenizer '" + std::string(name) + "'");
}

// ICU's \s omits U+000B and U+0085, which the models' regex engine (Oniguruma) and llama.cpp
// count as white space; the White_Space property is the set they use.
std::string with_unicode_white_space(std::string re) {
  std::string out;
  for (size_t i = 0; i < re.size(); ++i) {
    if (re[i] == '\\' && i + 1 < re.size()) {
      char c = re[++i];
      if (c == 's') out += R"(\p{White_Space})";
      else if (c == 'S') out += R"(\P{White_Space})";
      else (out += '\\') += c;
    } else {
      out += re[i];
    }
  }
  return out;
}

}  // namespace

struct PreTokenizer::Patterns {
  std::vector<std::unique_ptr<icu::RegexPattern>> list;
};

PreTokenizer::PreTokenizer(std::string_view name) {
  Spec spec = spec_for(name);
  auto patterns = std::make_shared<Patterns>();
  for (const std::string& re : spec.regexes) {
    UErrorCode status = U_ZERO_ERROR;
    UParseError where;
    icu::UnicodeString text = icu::UnicodeString::fromUTF8(with_unicode_white_space(re));
    patterns->list.emplace_back(icu::RegexPattern::compile(text, 0, where, status));
    if (U_FAILURE(status)) {
      throw std::logic_error("pre-tokenizer regex does not compile: " + re + " (" + u_errorName(status) + ")");
    }
  }
  patterns_ = std::move(patterns);
  ignore_merges_ = spec.ignore_merges;
}

std::vector<std::string_view> PreTokenizer::split(std::string_view text) const {
  // The regexes run on UTF-16; byte_at maps each UTF-16 index back to text, so the words are
  // slices of the input (malformed bytes are matched as U+FFFD but keep their own bytes).
  icu::UnicodeString u;
  std::vector<size_t> byte_at;
  for (size_t pos = 0; pos < text.size();) {
    char32_t cp;
    size_t len = utf8_decode(text, pos, cp);
    byte_at.push_back(pos);
    if (cp >= 0x10000) byte_at.push_back(pos);
    u.append(UChar32(cp));
    pos += len;
  }
  byte_at.push_back(text.size());

  std::vector<std::pair<int32_t, int32_t>> pieces;
  if (u.length() > 0) pieces.emplace_back(0, u.length());
  for (const auto& pattern : patterns_->list) {
    UErrorCode status = U_ZERO_ERROR;
    std::unique_ptr<icu::RegexMatcher> m(pattern->matcher(u, status));
    std::vector<std::pair<int32_t, int32_t>> next;
    // Each piece is matched on its own: $ and look-ahead end at the piece's end, and what no
    // match covers stays a piece of its own, as in Hugging Face's "isolated" splits.
    for (auto [begin, end] : pieces) {
      m->region(begin, end, status);
      int32_t pos = begin;
      while (m->find(status)) {
        int32_t s = m->start(status), e = m->end(status);
        if (s == e) continue;
        if (s > pos) next.emplace_back(pos, s);
        next.emplace_back(s, e);
        pos = e;
      }
      if (pos < end) next.emplace_back(pos, end);
    }
    if (U_FAILURE(status)) throw std::runtime_error(std::string("pre-tokenizer: ") + u_errorName(status));
    pieces = std::move(next);
  }

  std::vector<std::string_view> words;
  words.reserve(pieces.size());
  for (auto [begin, end] : pieces) words.push_back(text.substr(byte_at[begin], byte_at[end] - byte_at[begin]));
  return words;
}

}  // namespace vkmoe
