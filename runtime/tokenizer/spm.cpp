#include "runtime/tokenizer/spm.h"

#include <cstdio>

#include "runtime/tokenizer/merge.h"

namespace vkmoe {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

// Only ordinary pieces take part in merges; control and byte tokens stand for no text.
bool mergeable(TokenType t) {
  return t == TokenType::Normal || t == TokenType::UserDefined || t == TokenType::Undefined;
}

}  // namespace

void spm_encode(std::string_view text, bool add_space_prefix, const Vocab& vocab,
                const StringMap<int32_t>& index, std::vector<int32_t>& out) {
  std::string escaped;
  if (add_space_prefix) escaped += kSpace;
  for (char c : text) {
    if (c == ' ') escaped += kSpace;
    else escaped += c;
  }

  std::string key;
  auto score = [&](std::string_view left, std::string_view right) -> std::optional<double> {
    key.assign(left).append(right);
    auto it = index.find(key);
    if (it == index.end() || !mergeable(vocab.type(it->second))) return std::nullopt;
    return -double(vocab.score(it->second));  // the highest score merges first
  };
  for (std::string_view piece : merge_pairs(escaped, score)) {
    if (auto it = index.find(piece); it != index.end()) {
      out.push_back(it->second);
      continue;
    }
    for (unsigned char b : piece) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      auto it = index.find(std::string_view(name));
      if (it != index.end()) out.push_back(it->second);
      else if (vocab.unk != kNoToken) out.push_back(vocab.unk);
    }
  }
}

std::string spm_decode(const Vocab& vocab, int32_t id) {
  const std::string& text = vocab.tokens[size_t(id)];
  TokenType type = vocab.type(id);
  unsigned byte;
  if (type == TokenType::Byte && std::sscanf(text.c_str(), "<0x%02X>", &byte) == 1) {
    return std::string(1, char(byte));
  }
  if (!mergeable(type) || type == TokenType::UserDefined) return text;  // written as is
  std::string out;
  for (size_t pos = 0; pos < text.size();) {
    if (text.compare(pos, kSpace.size(), kSpace) == 0) {
      out += ' ';
      pos += kSpace.size();
    } else {
      out += text[pos++];
    }
  }
  return out;
}

}  // namespace vkmoe
