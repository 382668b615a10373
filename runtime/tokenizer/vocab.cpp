#include "runtime/tokenizer/vocab.h"

#include <stdexcept>

#include "runtime/gguf/gguf_reader.h"
#include "runtime/tokenizer/pretokenizer_specs.h"

namespace vkmoe {

StringMap<int32_t> index_tokens(const Vocab& vocab) {
  StringMap<int32_t> index;
  index.reserve(vocab.tokens.size());
  for (size_t i = 0; i < vocab.tokens.size(); ++i) index.insert_or_assign(vocab.tokens[i], int32_t(i));
  return index;
}

Vocab load_vocab(const GgufFile& file) {
  Vocab v;
  for (std::string_view t : file.get_string_array("tokenizer.ggml.tokens")) v.tokens.emplace_back(t);
  if (v.tokens.empty()) throw std::runtime_error(file.name() + ": no tokenizer.ggml.tokens");
  v.model = file.get_string("tokenizer.ggml.model").value_or("");
  v.pre = file.get_string("tokenizer.ggml.pre").value_or("");
  v.scores = file.get_f32_array("tokenizer.ggml.scores");
  for (int32_t t : file.get_i32_array("tokenizer.ggml.token_type")) v.types.push_back(static_cast<TokenType>(t));
  for (std::string_view m : file.get_string_array("tokenizer.ggml.merges")) v.merges.emplace_back(m);
  // As llama.cpp: byte-level BPE without merges would quietly tokenize byte by byte.
  if (v.model == "gpt2" && !file.has("tokenizer.ggml.merges")) {
    throw std::runtime_error(file.name() + ": byte-level BPE vocabulary without tokenizer.ggml.merges");
  }
  v.chat_template = file.get_string("tokenizer.chat_template").value_or("");

  // llama.cpp's defaults where the file is silent: SentencePiece vocabularies are LLaMA's.
  if (v.model == "llama") {
    v.bos = 1;
    v.eos = 2;
    v.unk = 0;
    v.add_bos = true;
  } else {
    v.add_space_prefix = false;
    v.add_bos = pre_tokenizer_adds_bos(v.pre);
  }
  auto read_id = [&](std::string_view key, int32_t& id) {
    std::optional<uint64_t> value = file.get_uint(key);
    if (value && *value < v.tokens.size()) id = int32_t(*value);  // out of range: keep the default
  };
  read_id("tokenizer.ggml.bos_token_id", v.bos);
  read_id("tokenizer.ggml.eos_token_id", v.eos);
  read_id("tokenizer.ggml.eot_token_id", v.eot);
  read_id("tokenizer.ggml.padding_token_id", v.pad);
  read_id("tokenizer.ggml.unknown_token_id", v.unk);
  v.add_bos = file.get_bool("tokenizer.ggml.add_bos_token").value_or(v.add_bos);
  v.add_eos = file.get_bool("tokenizer.ggml.add_eos_token").value_or(v.add_eos);
  v.add_space_prefix = file.get_bool("tokenizer.ggml.add_space_prefix").value_or(v.add_space_prefix);
  return v;
}

}  // namespace vkmoe
