#include "runtime/tokenizer/bpe.h"

#include "runtime/tokenizer/merge.h"
#include "runtime/tokenizer/unicode.h"

namespace vkmoe {

BytePairEncoder::BytePairEncoder(const Vocab& vocab) : pre_(vocab.pre) {
  ranks_.reserve(vocab.merges.size());
  for (size_t i = 0; i < vocab.merges.size(); ++i) ranks_.emplace(vocab.merges[i], int32_t(i));
}

void BytePairEncoder::encode(std::string_view text, const StringMap<int32_t>& index,
                             std::vector<int32_t>& out) const {
  std::string mapped, key;
  for (std::string_view word : pre_.split(text)) {
    mapped.clear();
    for (char c : word) mapped += byte_to_unicode(static_cast<unsigned char>(c));
    if (pre_.ignore_merges()) {
      if (auto it = index.find(mapped); it != index.end()) {
        out.push_back(it->second);
        continue;
      }
    }
    auto rank = [&](std::string_view left, std::string_view right) -> std::optional<double> {
      key.assign(left).append(" ").append(right);
      auto it = ranks_.find(key);
      if (it == ranks_.end()) return std::nullopt;
      return it->second;
    };
    for (std::string_view piece : merge_pairs(mapped, rank)) {
      if (auto it = index.find(piece); it != index.end()) {
        out.push_back(it->second);
        continue;
      }
      // A merge result the vocabulary lacks: fall back to its characters (one per byte).
      for (size_t pos = 0; pos < piece.size();) {
        char32_t cp;
        size_t len = utf8_decode(piece, pos, cp);
        if (auto it = index.find(piece.substr(pos, len)); it != index.end()) out.push_back(it->second);
        pos += len;
      }
    }
  }
}

std::string byte_level_decode(std::string_view token_text) {
  // As Hugging Face's ByteLevel decoder: all characters are byte images, or the text is kept as
  // written (added tokens such as "<｜end▁of▁sentence｜>").
  std::string bytes;
  for (size_t pos = 0; pos < token_text.size();) {
    char32_t cp;
    size_t len = utf8_decode(token_text, pos, cp);
    int b = unicode_to_byte(cp);
    if (b < 0) return std::string(token_text);
    bytes += char(b);
    pos += len;
  }
  return bytes;
}

}  // namespace vkmoe
