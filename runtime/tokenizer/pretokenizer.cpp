#include "runtime/tokenizer/pretokenizer.h"

#include <unicode/regex.h>
#include <unicode/uchar.h>
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

using Pieces = std::vector<std::pair<int32_t, int32_t>>;  // [begin, end) in UTF-16 units

enum class DigitRule { None, ThreesFromRight, ThreesToBoundary };

bool is_digit(UChar32 c) { return u_charType(c) == U_DECIMAL_DIGIT_NUMBER; }  // \d

// ICU's \w, the class \b looks at.
bool is_word(UChar32 c) {
  return u_hasBinaryProperty(c, UCHAR_ALPHABETIC) || (U_GET_GC_MASK(c) & (U_GC_M_MASK | U_GC_ND_MASK | U_GC_PC_MASK)) ||
         c == 0x200C || c == 0x200D;
}

// The look-ahead digit groupings in one pass over [begin, end). ThreesFromRight: empty matches
// wherever a multiple of three digits runs to the end of a digit run, i.e. split points.
// ThreesToBoundary: a run that ends at a word boundary becomes its leading 1-3 digits and then
// threes, each a word; other runs are left to the next regex.
void split_digit_groups(const icu::UnicodeString& u, int32_t begin, int32_t end, DigitRule rule, Pieces& next) {
  int32_t pos = begin;
  std::vector<int32_t> at;  // where each digit of the current run starts
  for (int32_t i = begin; i < end;) {
    if (!is_digit(u.char32At(i))) {
      i = u.moveIndex32(i, 1);
      continue;
    }
    at.clear();
    int32_t j = i;
    for (; j < end && is_digit(u.char32At(j)); j = u.moveIndex32(j, 1)) at.push_back(j);
    const size_t n = at.size();
    auto digit = [&](size_t k) { return k < n ? at[k] : j; };
    if (rule == DigitRule::ThreesFromRight) {
      for (size_t k = n % 3; k < n; k += 3) {
        if (digit(k) > pos) next.emplace_back(pos, digit(k));
        pos = std::max(pos, digit(k));
      }
    } else if (j >= end || !is_word(u.char32At(j))) {
      if (i > pos) next.emplace_back(pos, i);
      for (size_t k = 0, len = n % 3 == 0 ? 3 : n % 3; k < n; k += len, len = 3) next.emplace_back(digit(k), digit(k + len));
      pos = j;
    }
    i = j;
  }
  if (pos < end) next.emplace_back(pos, end);
}

// Hugging Face's "isolated" split by one regex: each piece is matched on its own ($ and look-ahead
// end at the piece's end), and what no match covers stays a piece of its own.
void split_by_regex(const icu::UnicodeString& u, const icu::RegexPattern& pattern, const Pieces& pieces, Pieces& next) {
  UErrorCode status = U_ZERO_ERROR;
  std::unique_ptr<icu::RegexMatcher> m(pattern.matcher(u, status));
  for (auto [begin, end] : pieces) {
    m->region(begin, end, status);
    int32_t pos = begin;
    while (m->find(status)) {
      int32_t s = m->start(status), e = m->end(status);
      if (s > pos) next.emplace_back(pos, s);
      if (s < e) next.emplace_back(s, e);  // an empty match (a look-ahead) is only a split point
      pos = std::max(pos, e);
    }
    if (pos < end) next.emplace_back(pos, end);
  }
  if (U_FAILURE(status)) throw std::runtime_error(std::string("pre-tokenizer: ") + u_errorName(status));
}

}  // namespace

struct PreTokenizer::Patterns {
  struct Step {
    std::unique_ptr<icu::RegexPattern> regex;  // null for a digit rule
    DigitRule digits = DigitRule::None;
  };
  std::vector<Step> list;
};

PreTokenizer::PreTokenizer(std::string_view name) {
  PreTokenizerSpec spec = pre_tokenizer_spec(name);
  auto patterns = std::make_shared<Patterns>();
  for (const std::string& re : spec.regexes) {
    if (re == kThreesFromRightRegex || re == kThreesToBoundaryRegex) {
      patterns->list.push_back({nullptr, re == kThreesFromRightRegex ? DigitRule::ThreesFromRight : DigitRule::ThreesToBoundary});
      continue;
    }
    UErrorCode status = U_ZERO_ERROR;
    UParseError where;
    icu::UnicodeString text = icu::UnicodeString::fromUTF8(with_unicode_white_space(re));
    patterns->list.push_back({std::unique_ptr<icu::RegexPattern>(icu::RegexPattern::compile(text, 0, where, status))});
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

  Pieces pieces;
  if (u.length() > 0) pieces.emplace_back(0, u.length());
  for (const auto& step : patterns_->list) {
    Pieces next;
    if (step.regex) {
      split_by_regex(u, *step.regex, pieces, next);
    } else {
      for (auto [begin, end] : pieces) split_digit_groups(u, begin, end, step.digits, next);
    }
    pieces = std::move(next);
  }

  std::vector<std::string_view> words;
  words.reserve(pieces.size());
  for (auto [begin, end] : pieces) words.push_back(text.substr(byte_at[begin], byte_at[end] - byte_at[begin]));
  return words;
}

}  // namespace vkmoe
