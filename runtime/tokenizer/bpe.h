// Byte-level BPE (GPT-2 style, tokenizer.ggml.model "gpt2"): the pre-tokenizer splits text into
// words, each word's bytes become printable characters, and merges apply by rank.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/tokenizer/pretokenizer.h"
#include "runtime/tokenizer/vocab.h"

namespace vkmoe {

class BytePairEncoder {
 public:
  // Throws std::invalid_argument for a pre-tokenizer it does not know.
  explicit BytePairEncoder(const Vocab& vocab);

  // Appends the ids of raw text (no special tokens in it) to out.
  void encode(std::string_view text, const StringMap<int32_t>& index, std::vector<int32_t>& out) const;

 private:
  PreTokenizer pre_;
  StringMap<int32_t> ranks_;  // "left right" as tokenizer.ggml.merges has it -> rank
};

// The bytes a byte-level token's text stands for.
std::string byte_level_decode(std::string_view token_text);

}  // namespace vkmoe
