#include "runtime/tokenizer/tokenizer.h"

#include <algorithm>
#include <stdexcept>

#include "runtime/gguf/gguf_reader.h"
#include "runtime/tokenizer/spm.h"
#include "runtime/tokenizer/unicode.h"

namespace vkmoe {
namespace {

// Texts of the tokens models end a turn with, in the order an absent EOT id is chosen from.
constexpr std::string_view kEndOfTurnTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<|eom_id|>", "<EOT>", "<\xEF\xBD\x9C" "end\xE2\x96\x81" "of\xE2\x96\x81" "sentence\xEF\xBD\x9C>",  // DeepSeek
    "<|return|>", "<|call|>",  // gpt-oss
    "<|eot|>", "<|end_of_sentence|>", "<|endofresponse|>", "<|role_end|>", "[e~[", "<|separator|>",  // Llama 4, ERNIE, dots1, Ling 2, MiniMax, Grok 2
};

bool is_control(TokenType t) { return t == TokenType::Control || t == TokenType::Unknown; }

}  // namespace

Tokenizer Tokenizer::from_gguf(const GgufFile& file) {
  try {
    return Tokenizer(load_vocab(file));
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(file.name() + ": " + e.what());
  }
}

Tokenizer::Tokenizer(Vocab vocab) : vocab_(std::move(vocab)) {
  const size_t n = vocab_.tokens.size();
  if (n == 0) throw std::invalid_argument("tokenizer: empty vocabulary");
  if ((!vocab_.scores.empty() && vocab_.scores.size() != n) || (!vocab_.types.empty() && vocab_.types.size() != n)) {
    throw std::invalid_argument("tokenizer: scores or token types do not match the token count");
  }
  if (vocab_.model == "gpt2") {
    bpe_.emplace(vocab_);
  } else if (vocab_.model != "llama") {
    throw std::invalid_argument("unsupported tokenizer model '" + vocab_.model + "'");
  }
  index_ = index_tokens(vocab_);

  pieces_.reserve(n);
  for (int32_t id = 0; id < int32_t(n); ++id) {
    TokenType t = vocab_.type(id);
    pieces_.push_back(bpe_ ? byte_level_decode(vocab_.tokens[size_t(id)]) : spm_decode(vocab_, id));
    if ((is_control(t) || t == TokenType::UserDefined) && !pieces_.back().empty()) specials_.push_back(id);
  }
  // Longest first, so that a token whose text contains another's wins.
  std::stable_sort(specials_.begin(), specials_.end(),
                   [&](int32_t a, int32_t b) { return pieces_[size_t(a)].size() > pieces_[size_t(b)].size(); });

  for (std::string_view text : kEndOfTurnTexts) {
    auto it = index_.find(text);
    if (it == index_.end()) continue;
    end_of_turn_.push_back(it->second);
    if (vocab_.eot == kNoToken) vocab_.eot = it->second;
  }
  // gpt-oss (harmony): <|end|> closes a channel's message inside a reply, which goes on until
  // <|return|> or <|call|>; llama.cpp drops <|end|> from the ends of generation the same way.
  if (index_.find("<|return|>") != index_.end() && index_.find("<|call|>") != index_.end()) {
    if (auto it = index_.find("<|end|>"); it != index_.end()) {
      std::erase(end_of_turn_, it->second);
      if (vocab_.eot == it->second) vocab_.eot = index_.find("<|return|>")->second;
    }
  }
  for (int32_t id : {vocab_.eos, vocab_.eot}) {
    if (id >= 0 && size_t(id) < n) end_of_turn_.push_back(id);
  }
  std::sort(end_of_turn_.begin(), end_of_turn_.end());
  end_of_turn_.erase(std::unique(end_of_turn_.begin(), end_of_turn_.end()), end_of_turn_.end());
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  // Cut the text at special tokens first; only the pieces between them are tokenized.
  struct Fragment {
    size_t begin, end;
    int32_t token;  // kNoToken for text
  };
  std::vector<Fragment> fragments;
  if (!text.empty()) fragments.push_back({0, text.size(), kNoToken});
  // Matched by the bytes they stand for: DeepSeek's added tokens "ø", "ö"... are the bytes
  // 0xF8, 0xF6..., not those letters.
  for (size_t k = 0; parse_special && k < specials_.size(); ++k) {
    const int32_t id = specials_[k];
    const std::string& name = pieces_[size_t(id)];
    std::vector<Fragment> next;
    for (const Fragment& f : fragments) {
      if (f.token != kNoToken) {
        next.push_back(f);
        continue;
      }
      std::string_view within = text.substr(0, f.end);
      size_t pos = f.begin;
      for (size_t m; (m = within.find(name, pos)) != std::string_view::npos; pos = m + name.size()) {
        if (m > pos) next.push_back({pos, m, kNoToken});
        next.push_back({m, m + name.size(), id});
      }
      if (pos < f.end) next.push_back({pos, f.end, kNoToken});
    }
    fragments = std::move(next);
  }

  std::vector<int32_t> out;
  if (add_special && vocab_.add_bos && vocab_.bos != kNoToken) out.push_back(vocab_.bos);
  for (const Fragment& f : fragments) {
    if (f.token != kNoToken) {
      out.push_back(f.token);
      continue;
    }
    std::string_view piece = text.substr(f.begin, f.end - f.begin);
    if (bpe_) bpe_->encode(piece, index_, out);
    // SentencePiece's "▁" goes in front of the text's start only, not after special tokens
    // (Hugging Face's prepend_scheme "first"): "</s> [INST]" stays "</s>▁[INST]".
    else spm_encode(piece, vocab_.add_space_prefix && f.begin == 0, vocab_, index_, out);
  }
  if (add_special && vocab_.add_eos && vocab_.eos != kNoToken) out.push_back(vocab_.eos);
  return out;
}

const std::string& Tokenizer::token_piece(int32_t id) const {
  if (id < 0 || size_t(id) >= pieces_.size()) {
    throw std::out_of_range("token id " + std::to_string(id) + " outside the vocabulary of " +
                            std::to_string(pieces_.size()));
  }
  return pieces_[size_t(id)];
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && size_t(id) < pieces_.size() && is_control(vocab_.type(id));
}

bool Tokenizer::is_end_of_turn(int32_t id) const {
  return std::binary_search(end_of_turn_.begin(), end_of_turn_.end(), id);
}

void Tokenizer::append_piece(int32_t id, bool render_special, bool& at_start, std::string& out) const {
  std::string_view piece = token_piece(id);
  TokenType t = vocab_.type(id);
  bool control = is_control(t);
  if (!control && t != TokenType::UserDefined && at_start && !bpe_ && vocab_.add_space_prefix &&
      !piece.empty() && piece.front() == ' ') {
    piece.remove_prefix(1);
  }
  if (!control || render_special) out += piece;
  if (!control) at_start = false;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool render_special) const {
  std::string out;
  bool at_start = true;
  for (int32_t id : ids) append_piece(id, render_special, at_start, out);
  return out;
}

std::string StreamDecoder::push(int32_t id) {
  tokenizer_.append_piece(id, render_special_, at_start_, pending_);
  size_t n = utf8_complete_prefix(pending_);
  std::string out = utf8_sanitize(std::string_view(pending_).substr(0, n));
  pending_.erase(0, n);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = utf8_sanitize(pending_);
  pending_.clear();
  return out;
}

}  // namespace vkmoe
