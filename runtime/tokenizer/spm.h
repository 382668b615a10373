// SentencePiece BPE (tokenizer.ggml.model "llama"): spaces become U+2581, characters merge into
// the token with the best score, and characters no token covers fall back to <0xXX> byte tokens.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/tokenizer/vocab.h"

namespace vkmoe {

// Appends the ids of raw text (no special tokens in it) to out; add_space_prefix puts the "▁"
// in front that SentencePiece adds at the start of a text.
void spm_encode(std::string_view text, bool add_space_prefix, const Vocab& vocab,
                const StringMap<int32_t>& index, std::vector<int32_t>& out);

// The bytes a SentencePiece token stands for: "▁" as a space, <0xXX> as its byte.
std::string spm_decode(const Vocab& vocab, int32_t id);

}  // namespace vkmoe
