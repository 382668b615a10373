#include "runtime/tokenizer/pretokenizer.h"

#include <unicode/regex.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "runtime/tokenizer/pretokenizer_specs.h"
#include "runtime/tokenizer/unicode.h"

namespace vkmoe {
namespace {

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
  PreTokenizerSpec spec = pre_tokenizer_spec(name);
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
        if (s == e) {
          // An empty match (a look-ahead such as SuperBPE's digit grouping) is a split point.
          if (s > pos) next.emplace_back(pos, s);
          pos = std::max(pos, s);
          continue;
        }
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
