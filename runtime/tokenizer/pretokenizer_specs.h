// The regexes of every pre-tokenizer type llama.cpp accepts (tokenizer.ggml.pre), by name.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace vkmoe {

// Digit groupings written as look-aheads, which a backtracking engine runs in quadratic time on a
// long digit run. PreTokenizer recognises these exact texts and splits them in one pass, with the
// same result (as llama.cpp recognises the regexes it splits by hand by their text).
inline constexpr std::string_view kThreesFromRightRegex = R"((?=(\d{3})+(?!\d)))";   // SuperBPE
inline constexpr std::string_view kThreesToBoundaryRegex = R"(\d{1,3}(?=(?:\d{3})*\b))";  // tiny_aya

struct PreTokenizerSpec {
  // Applied in order, each to the pieces the previous ones left (Hugging Face's "isolated"
  // splits). Written for ICU; \s and \S are rewritten to the White_Space property when compiled.
  std::vector<std::string> regexes;
  bool ignore_merges = false;  // a word that is itself a token skips the merges
};

// Throws std::invalid_argument naming the pre-tokenizer when llama.cpp does not know it, or when
// it is one of the few that are not byte-level BPE (vkmoe does not run those).
PreTokenizerSpec pre_tokenizer_spec(std::string_view name);

// Whether llama.cpp adds BOS for this pre-tokenizer when the file has no add_bos_token (the
// Llama 3 family, tekken, chameleon); never throws.
bool pre_tokenizer_adds_bos(std::string_view name);

// Every name pre_tokenizer_spec accepts (for tests and the README).
const std::vector<std::string_view>& pre_tokenizer_names();

}  // namespace vkmoe
