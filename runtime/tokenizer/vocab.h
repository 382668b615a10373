// A tokenizer vocabulary as GGUF stores it under tokenizer.ggml.*, independent of the file reader.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace vkmoe {

class GgufFile;

// Values of tokenizer.ggml.token_type (llama.cpp's numbering).
enum class TokenType : int32_t {
  Undefined = 0,
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6,
};

inline constexpr int32_t kNoToken = -1;

struct Vocab {
  std::string model;  // tokenizer.ggml.model: "llama" (SentencePiece) or "gpt2" (byte-level BPE)
  std::string pre;    // tokenizer.ggml.pre, e.g. "qwen2"; empty means the default
  std::vector<std::string> tokens;
  std::vector<float> scores;     // empty or one per token
  std::vector<TokenType> types;  // empty or one per token
  std::vector<std::string> merges;  // "left right", best first
  int32_t bos = kNoToken, eos = kNoToken, eot = kNoToken, pad = kNoToken, unk = kNoToken;
  bool add_bos = false, add_eos = false;
  bool add_space_prefix = true;  // SentencePiece only
  std::string chat_template;

  TokenType type(int32_t id) const { return types.empty() ? TokenType::Normal : types[size_t(id)]; }
  float score(int32_t id) const { return scores.empty() ? 0.0f : scores[size_t(id)]; }
};

// String-keyed map that string_views can look up without a copy.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <class V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

// Text -> id; where texts repeat, the last id wins (as in llama.cpp).
StringMap<int32_t> index_tokens(const Vocab& vocab);

// Reads tokenizer.ggml.* from a GGUF file, with llama.cpp's defaults for absent keys.
// Throws std::runtime_error naming the file when the token list is missing.
Vocab load_vocab(const GgufFile& file);

}  // namespace vkmoe
