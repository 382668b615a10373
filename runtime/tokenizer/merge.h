// The pair merging that SentencePiece BPE and byte-level BPE share: start from the single UTF-8
// characters of a word and keep merging the adjacent pair with the best (lowest) priority, the
// leftmost pair on ties, until no adjacent pair has a priority.
#pragma once
#include <cstdint>
#include <optional>
#include <queue>
#include <string_view>
#include <vector>

#include "runtime/tokenizer/unicode.h"

namespace vkmoe {

// priority(left, right) -> std::optional<double>: nullopt where the pair must not merge.
template <class PairPriority>
std::vector<std::string_view> merge_pairs(std::string_view word, PairPriority&& priority) {
  struct Symbol {
    uint32_t begin, len;
    int32_t prev, next;
  };
  struct Candidate {
    double priority;
    int32_t left;
    uint32_t left_len, right_len;  // sizes when queued: a later merge of either makes it stale
    bool operator<(const Candidate& o) const {  // priority_queue pops the greatest
      return priority > o.priority || (priority == o.priority && left > o.left);
    }
  };

  std::vector<Symbol> symbols;
  for (size_t pos = 0; pos < word.size();) {
    char32_t cp;
    auto len = uint32_t(utf8_decode(word, pos, cp));
    auto i = int32_t(symbols.size());
    symbols.push_back({uint32_t(pos), len, i - 1, pos + len < word.size() ? i + 1 : -1});
    pos += len;
  }
  auto text = [&](const Symbol& s) { return word.substr(s.begin, s.len); };

  std::priority_queue<Candidate> queue;
  auto consider = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const Symbol &l = symbols[size_t(left)], &r = symbols[size_t(right)];
    if (std::optional<double> p = priority(text(l), text(r))) queue.push({*p, left, l.len, r.len});
  };
  for (int32_t i = 1; i < int32_t(symbols.size()); ++i) consider(i - 1, i);

  while (!queue.empty()) {
    Candidate c = queue.top();
    queue.pop();
    Symbol& l = symbols[size_t(c.left)];
    if (l.len != c.left_len || l.next < 0) continue;
    Symbol& r = symbols[size_t(l.next)];
    if (r.len != c.right_len) continue;
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (l.next >= 0) symbols[size_t(l.next)].prev = c.left;
    consider(l.prev, c.left);
    consider(c.left, l.next);
  }

  std::vector<std::string_view> pieces;
  for (int32_t i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[size_t(i)].next) pieces.push_back(text(symbols[size_t(i)]));
  return pieces;
}

}  // namespace vkmoe
