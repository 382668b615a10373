// Text <-> token ids for the vocabularies GGUF files carry: SentencePiece BPE ("llama") and
// byte-level BPE ("gpt2"), with special-token parsing and streaming detokenisation.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/tokenizer/bpe.h"
#include "runtime/tokenizer/vocab.h"

namespace vkmoe {

class Tokenizer {
 public:
  // Throws std::runtime_error naming the file when its tokenizer model or pre-tokenizer is
  // unsupported.
  static Tokenizer from_gguf(const GgufFile& file);
  // Throws std::invalid_argument when vocab.model or vocab.pre is unsupported.
  explicit Tokenizer(Vocab vocab);

  // add_special: BOS/EOS where the vocabulary asks for them. parse_special: control and
  // user-defined tokens written in the text (e.g. "<|im_start|>", Qwen3's "<think>") become
  // their ids; without it they are tokenized as any other text.
  std::vector<int32_t> encode(std::string_view text, bool add_special = false,
                              bool parse_special = false) const;

  // The bytes the ids stand for. render_special = false drops control tokens ("<s>", "<|im_end|>").
  std::string decode(std::span<const int32_t> ids, bool render_special = true) const;

  // The bytes one token stands for (a control token's text for a control token).
  // Throws std::out_of_range for an id outside the vocabulary.
  const std::string& token_piece(int32_t id) const;

  int32_t bos() const { return vocab_.bos; }
  int32_t eos() const { return vocab_.eos; }
  bool add_bos() const { return vocab_.add_bos; }
  // Whether generation should stop at id: EOS, EOT and the end-of-turn tokens models use.
  bool is_end_of_turn(int32_t id) const;
  bool is_special(int32_t id) const;  // control or unknown type
  size_t vocab_size() const { return vocab_.tokens.size(); }
  const Vocab& vocab() const { return vocab_; }

 private:
  friend class StreamDecoder;
  // Appends id's bytes to out. at_start: only control tokens precede it, so a SentencePiece
  // piece drops the space its encoder put in front of the text; updated for the next token.
  void append_piece(int32_t id, bool render_special, bool& at_start, std::string& out) const;

  Vocab vocab_;
  StringMap<int32_t> index_;
  std::optional<BytePairEncoder> bpe_;  // set for byte-level BPE, empty for SentencePiece
  std::vector<int32_t> specials_;  // control, user-defined and unknown tokens, longest first
  std::vector<std::string> pieces_;
  std::vector<int32_t> end_of_turn_;  // sorted
};

// Turns ids into text one at a time, never returning part of a UTF-8 character: bytes of an
// unfinished character wait for the next ids. Malformed bytes come out as U+FFFD.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool render_special = true)
      : tokenizer_(tokenizer), render_special_(render_special) {}
  std::string push(int32_t id);
  // What is still held at the end (an unfinished character becomes U+FFFD).
  std::string flush();

 private:
  const Tokenizer& tokenizer_;
  bool render_special_;
  bool at_start_ = true;
  std::string pending_;
};

}  // namespace vkmoe
