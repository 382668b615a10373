#include "runtime/tokenizer/vocab.h"

namespace vkmoe {

StringMap<int32_t> index_tokens(const Vocab& vocab) {
  StringMap<int32_t> index;
  index.reserve(vocab.tokens.size());
  for (size_t i = 0; i < vocab.tokens.size(); ++i) index.insert_or_assign(vocab.tokens[i], int32_t(i));
  return index;
}

}  // namespace vkmoe
