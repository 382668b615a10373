// libFuzzer target for the tokenizers: arbitrary bytes into encode and decode, for each tokenizer
// kind (byte-level BPE, SentencePiece), on the shared vocabularies (VKMOE_FUZZ_VOCABS: a folder of
// ggml-vocab-*.gguf; ../shared/tokenizer by default). Promises checked with a trap: ids stay in
// the vocabulary; byte-level BPE gives back exactly the bytes it was given; streaming decode
// equals whole decode; nothing throws but the documented out_of_range of token_piece. Every
// pre-tokenizer llama.cpp knows (one per input, by the second byte) splits the text into
// non-empty words that are exactly the text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "runtime/gguf/gguf_reader.h"
#include "runtime/tokenizer/pretokenizer.h"
#include "runtime/tokenizer/pretokenizer_specs.h"
#include "runtime/tokenizer/tokenizer.h"

using namespace vkmoe;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

const std::vector<PreTokenizer>& pre_tokenizers() {
  static const std::vector<PreTokenizer> all = [] {
    std::vector<PreTokenizer> v;
    for (std::string_view name : pre_tokenizer_names()) v.emplace_back(name);
    return v;
  }();
  return all;
}

std::vector<std::unique_ptr<Tokenizer>>& tokenizers() {
  static std::vector<std::unique_ptr<Tokenizer>> t;
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* env = std::getenv("VKMOE_FUZZ_VOCABS");
  const std::filesystem::path dir = env && *env ? env : VKMOE_FUZZ_DEFAULT_VOCABS;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".gguf")
      tokenizers().push_back(std::make_unique<Tokenizer>(Tokenizer::from_gguf(GgufFile::open(e.path()))));
  if (tokenizers().empty()) {
    std::fprintf(stderr, "tokenizer_fuzz: no vocabularies in %s (set VKMOE_FUZZ_VOCABS)\n", dir.c_str());
    std::abort();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // First byte: which tokenizer and flags; the rest: the text, and the same bytes as ids.
  const uint8_t mode = data[0];
  const Tokenizer& tok = *tokenizers()[mode % tokenizers().size()];
  const bool add_special = mode & 0x10, parse_special = mode & 0x20, render_special = mode & 0x40;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto n = static_cast<int32_t>(tok.vocab_size());

  const std::vector<int32_t> ids = tok.encode(text, add_special, parse_special);
  for (int32_t id : ids) check(id >= 0 && id < n);
  const std::string back = tok.decode(ids, /*render_special=*/true);
  if (tok.vocab().model == "gpt2" && !add_special && !parse_special) check(back == text);

  // Ids from the input bytes (16 bits each, wrapped into the vocabulary): whole and streamed
  // decoding must agree up to the U+FFFD that streaming puts for malformed bytes, so only
  // crashes and sanitizer reports are checked there.
  std::vector<int32_t> raw;
  for (size_t i = 1; i + 1 < size; i += 2) raw.push_back(static_cast<int32_t>((data[i] | data[i + 1] << 8) % n));
  (void)tok.decode(raw, render_special);
  StreamDecoder stream(tok, render_special);
  std::string streamed;
  for (int32_t id : raw) streamed += stream.push(id);
  streamed += stream.flush();
  for (int32_t id : raw) (void)tok.token_piece(id);

  if (size >= 2) {
    std::string joined;
    for (std::string_view w : pre_tokenizers()[data[1] % pre_tokenizers().size()].split(text)) {
      check(!w.empty());
      joined += w;
    }
    check(joined == text);
  }
  (void)tok.is_end_of_turn(raw.empty() ? 0 : raw[0]);
  return 0;
}
