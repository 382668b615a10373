// Splits text into the words that byte-level BPE merges within, by the regexes that
// tokenizer.ggml.pre names (the same sequence of splits Hugging Face's pre-tokenizers make).
#pragma once
#include <memory>
#include <string_view>
#include <vector>

namespace vkmoe {

class PreTokenizer {
 public:
  // Throws std::invalid_argument for a name llama.cpp does not know; "" is llama.cpp's default.
  explicit PreTokenizer(std::string_view name);

  // The words, in order; together they are exactly `text`, byte for byte.
  std::vector<std::string_view> split(std::string_view text) const;

  // Llama 3 style: a word that is itself a token skips the merges.
  bool ignore_merges() const { return ignore_merges_; }

 private:
  struct Patterns;
  std::shared_ptr<const Patterns> patterns_;
  bool ignore_merges_ = false;
};

}  // namespace vkmoe
