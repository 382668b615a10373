#include "runtime/tokenizer/pretokenizer_specs.h"

#include <algorithm>
#include <stdexcept>

namespace vkmoe {
namespace {

using Spec = PreTokenizerSpec;

// English contractions, case-insensitive as the models' (?i:'s|'t|...) are, spelt out (as
// llama.cpp does) so that ICU's case folding cannot match e.g. U+017F for 's'.
const std::string kContractions = R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]))";
// Letters of a cased word: upper/title/other letters or marks, then lower ones (o200k, Tekken).
const std::string kUpper = R"([\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}])";
const std::string kLower = R"([\p{Ll}\p{Lm}\p{Lo}\p{M}])";

const std::string kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
const std::string kLlama3 =
    kContractions + R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const std::string kQwen2 =
    kContractions + R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// OpenAI's o200k (gpt-4o, gpt-oss), also Llama 4's and MiniMax's.
const std::string kO200k = "[^\\r\\n\\p{L}\\p{N}]?" + kUpper + "*" + kLower + "+" + kContractions +
                           "?|[^\\r\\n\\p{L}\\p{N}]?" + kUpper + "+" + kLower + "*" + kContractions +
                           R"(?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Words end at (.,!?… and their CJK/Indic/Arabic forms), as BLOOM's and Poro's splits do.
const std::string kBloom = R"( ?[^(\s|.,!?…。，、।۔،)]+)";
// ASCII punctuation then ASCII letters, first (DeepSeek-V3 style; { opens a string in ICU sets).
const std::string kAsciiPunctWord = R"([!-/:-@\[-`\{-~][A-Za-z]+)";

// DeepSeek LLM's letter class: the cased letters of some older Unicode, written as code points
// because several of them (U+1FBE, U+2126, U+212A...) would turn into others under NFC.
const std::string kDeepSeekLetters =
    R"(\x{41}-\x{5A}\x{61}-\x{7A}\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF})"
    R"(\x{1C4}-\x{293}\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386})"
    R"(\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F})"
    R"(\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA})"
    R"(\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15})"
    R"(\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B})"
    R"(\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4})"
    R"(\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4})"
    R"(\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124})"
    R"(\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F})"
    R"(\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4})"
    R"(\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F})"
    R"(\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17})"
    R"(\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB})"
    R"(\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF}\x{1E900}-\x{1E943})";
// CJK ideographs, everything from U+0800 up to them, and Hangul (DeepSeek LLM and Coder).
const std::string kDeepSeekCjk = R"([\x{4E00}-\x{9FA5}\x{0800}-\x{4E00}\x{AC00}-\x{D7FF}]+)";
// CJK ideographs and kana (DeepSeek-V3 and its descendants).
const std::string kCjkKana = R"([\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)";

Spec gpt2() { return {{kGpt2}}; }
Spec llama3() { return {{kLlama3}, true}; }
Spec llama3_merging() { return {{kLlama3}}; }
Spec qwen2() { return {{kQwen2}}; }
Spec o200k() { return {{kO200k}}; }
Spec starcoder() { return {{R"(\p{N})", kGpt2}}; }
Spec bloom() { return {{kBloom}}; }

// llama.cpp's LLAMA_VOCAB_PRE_TYPE_DEFAULT: what a file without tokenizer.ggml.pre gets.
Spec llama_cpp_default() {
  return {{R"([\p{P}\$\+<=>\^~\|]+)", kGpt2, R"(\p{N}+)", "[0-9][0-9][0-9]"}};
}

Spec falcon() { return {{R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, "[0-9][0-9][0-9]"}}; }

Spec deepseek_llm() {
  return {{R"([\r\n])", std::string(R"(\s?[)") + kDeepSeekLetters + "]+",
           R"(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)", R"(\s+$)",
           kDeepSeekCjk, R"(\p{N}+)"}};
}

Spec deepseek_coder() { return {{R"([\r\n])", R"(\s?\p{L}+)", R"(\s?\p{P}+)", kDeepSeekCjk, R"(\p{N})"}}; }

Spec deepseek_v3() {
  return {{R"(\p{N}{1,3})", kCjkKana,
           kAsciiPunctWord +
               R"(|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}};
}

Spec spark2_5() {
  return {{R"(\p{N}{1,3})", kCjkKana,
           kAsciiPunctWord + R"(|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+|[\r\n]|\s+(?!\S)|\s+)",
           R"(\p{N})"}};
}

Spec youtu() {
  // Hangul, CJK punctuation, Bopomofo and CJK/kana runs first, then o200k-like words with
  // single digits.
  return {{R"([\x{AC00}-\x{D7A3}\x{3131}-\x{318E}]+)"
           R"(|[\x{FF01}\x{2026}\x{201C}\x{201D}\x{2018}\x{2019}\x{2014}\x{FF1A}\x{FF1B}\x{FF0C}\x{3001}-\x{303F}\x{FE30}-\x{FE4F}]+)"
           R"(|[\x{3105}-\x{312F}]+|[\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)",
           "[^\\r\\n\\p{L}\\p{N}]?" + kUpper + "*" + kLower + "+" + kContractions + "?|[^\\r\\n\\p{L}\\p{N}]?" +
               kUpper + "+" + kLower + "*" + kContractions +
               R"(?|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
          true};
}

Spec jais2() {
  return {{kContractions + R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+)"
                           R"(|\s{512}(?!\S)|\s{256}(?!\S)|\s{128}(?!\S)|\s{64}(?!\S)|\s{32}(?!\S)|\s{16}(?!\S))"
                           R"(|\s{8}(?!\S)|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1})"}};
}

Spec qwen35() {
  return {{kContractions +
           R"(|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}};
}

Spec viking() { return {{kBloom, R"(\p{N})"}}; }

Spec tekken() {
  return {{"[^\\r\\n\\p{L}\\p{N}]?" + kUpper + "*" + kLower + "+|[^\\r\\n\\p{L}\\p{N}]?" + kUpper + "+" + kLower +
               R"(*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
          true};
}

Spec chameleon() {
  return {{"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )", R"(\p{N})",
           R"([\p{P}!-/:-@\[-`\{-~])", R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))"}};
}

Spec granite_embed_multi() { return {{kO200k}, true}; }

// Cohere's: digits grouped in threes from the right, then o200k.
Spec tiny_aya() { return {{std::string(kThreesToBoundaryRegex), kO200k}}; }

// Kimi K2 (tokenization_kimi.py): Han runs, then o200k-like words whose letters are not Han.
Spec kimi_k2() {
  const std::string upper = R"([[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]&&[^\p{Han}]])";
  const std::string lower = R"([[\p{Ll}\p{Lm}\p{Lo}\p{M}]&&[^\p{Han}]])";
  return {{R"([\p{Han}]+|[^\r\n\p{L}\p{N}]?)" + upper + "*" + lower + "+" + kContractions +
           "?|[^\\r\\n\\p{L}\\p{N}]?" + upper + "+" + lower + "*" + kContractions +
           R"(?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}};
}

// SuperBPE keeps words across spaces: only digit runs split, in threes from the right (the
// look-ahead matches empty, and an empty match is a split point).
Spec superbpe() { return {{R"(\p{N}+)", std::string(kThreesFromRightRegex)}}; }

// Ling (bailing): the tokenizer.json regex with its possessive quantifiers, which ICU has.
Spec bailingmoe() {
  return {{R"('(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N})"
           R"(| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+)"}};
}

Spec seed_coder() {
  return {{kContractions +
           R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+)"}};
}

// Qwen2's without the contractions, so that Turkish suffixes after an apostrophe stay attached.
Spec ufakzeka() {
  return {{R"([^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}};
}

// Arcee AFMoE: digit runs split into a leading 1-2 digits and then threes (the first branch
// only at a run's start), CJK and Southeast Asian script runs, then DeepSeek-V3-like words.
Spec afmoe() {
  return {{R"((?<!\p{N})\p{N}{1,2}(?=(?:\p{N}{3})*(?!\p{N}))|\p{N}{3})",
           R"([\x{4E00}-\x{9FFF}\x{3400}-\x{4DBF}\x{F900}-\x{FAFF}\x{3040}-\x{309F}\x{30A0}-\x{30FF})"
           R"(\x{FF65}-\x{FF9F}\x{2F00}-\x{2FDF}\x{0E00}-\x{0E7F}\x{0E80}-\x{0EFF}\x{1780}-\x{17FF})"
           R"(\x{1000}-\x{109F}\x{AA60}-\x{AA7F}\x{A9E0}-\x{A9FF}\x{AC00}-\x{D7AF}\x{1100}-\x{11FF}]+)",
           kAsciiPunctWord +
               R"(|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}};
}

Spec laguna() { return {{R"([^\n]+|[\n]+)", kQwen2}}; }

Spec exaone_moe() {
  return {{kContractions + R"(|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N})"
                           R"(| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+)"}};
}

Spec minicpm5() {
  return {{R"(\p{N}{1,3})",
           kContractions + R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
          true};
}

struct Entry {
  std::string_view name;
  Spec (*make)();
};

// llama.cpp's src/llama-vocab.cpp: tokenizer.ggml.pre names and the regexes of their types.
constexpr Entry kEntries[] = {
    {"default", llama_cpp_default}, {"", llama_cpp_default},
    {"llama3", llama3}, {"llama-v3", llama3}, {"llama-bpe", llama3}, {"falcon3", llama3},
    {"falcon-h1", llama3}, {"pixtral", llama3}, {"midm-2.0", llama3}, {"lfm2", llama3},
    {"jina-v5-nano", llama3},
    {"dbrx", llama3_merging}, {"smaug-bpe", llama3_merging}, {"glm4", llama3_merging},
    {"chatglm-bpe", llama3_merging},
    {"deepseek-llm", deepseek_llm}, {"deepseek-coder", deepseek_coder},
    {"deepseek-v3", deepseek_v3}, {"hunyuan-dense", deepseek_v3}, {"hy_v4", deepseek_v3},
    {"joyai-llm", deepseek_v3}, {"spark2_5", spark2_5}, {"youtu", youtu},
    {"falcon", falcon}, {"jais-2", jais2},
    {"starcoder", starcoder}, {"refact", starcoder}, {"command-r", starcoder}, {"smollm", starcoder},
    {"codeshell", starcoder}, {"exaone", starcoder}, {"minerva-7b", starcoder}, {"mellum2", starcoder},
    {"gpt-2", gpt2}, {"phi-2", gpt2}, {"jina-es", gpt2}, {"jina-de", gpt2}, {"gigachat", gpt2},
    {"jina-v2-es", gpt2}, {"jina-v2-de", gpt2}, {"a.x-4.0", gpt2}, {"mellum", gpt2},
    {"modern-bert", gpt2}, {"jina-v1-en", gpt2}, {"jina-v2-code", gpt2}, {"roberta-bpe", gpt2},
    {"mpt", gpt2}, {"olmo", gpt2}, {"jais", gpt2}, {"trillion", gpt2}, {"granite-docling", gpt2},
    {"exaone4", gpt2},
    {"qwen2", qwen2}, {"deepseek-r1-qwen", qwen2}, {"kormo", qwen2}, {"f2llmv2", qwen2},
    {"megrez", qwen2}, {"stablelm2", qwen2}, {"hunyuan", qwen2}, {"solar-open", qwen2},
    {"grok-2", qwen2}, {"qwen35", qwen35}, {"ufakzeka", ufakzeka},
    {"poro-chat", bloom}, {"bloom", bloom}, {"gpt3-finnish", bloom}, {"viking", viking},
    {"tekken", tekken}, {"chameleon", chameleon},
    {"gpt-4o", o200k}, {"llama4", o200k}, {"kanana2", o200k}, {"talkie", o200k}, {"minimax-m2", o200k},
    {"granite-embed-multi-97m", granite_embed_multi}, {"tiny_aya", tiny_aya}, {"cohere2moe", tiny_aya},
    {"kimi-k2", kimi_k2}, {"superbpe", superbpe},
    {"bailingmoe", bailingmoe}, {"bailingmoe2", bailingmoe}, {"llada-moe", bailingmoe},
    {"seed-coder", seed_coder}, {"afmoe", afmoe}, {"laguna", laguna}, {"exaone-moe", exaone_moe},
    {"minicpm5", minicpm5},
};

// Known to llama.cpp, but SentencePiece-style BPE on raw UTF-8 (or whitespace splitting), not
// byte-level BPE.
constexpr std::string_view kNotByteLevel[] = {"gemma4", "granite-embed-multi-311m", "sarvam-moe", "whitespace"};

}  // namespace

PreTokenizerSpec pre_tokenizer_spec(std::string_view name) {
  for (const Entry& e : kEntries)
    if (e.name == name) return e.make();
  if (std::find(std::begin(kNotByteLevel), std::end(kNotByteLevel), name) != std::end(kNotByteLevel)) {
    throw std::invalid_argument("pre-tokenizer '" + std::string(name) +
                                "' is not byte-level BPE; vkmoe does not support it");
  }
  throw std::invalid_argument("unknown pre-tokenizer type '" + std::string(name) +
                              "' (llama.cpp does not know it either)");
}

bool pre_tokenizer_adds_bos(std::string_view name) {
  for (std::string_view n : {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
                             "jina-v5-nano", "tekken", "chameleon"})
    if (n == name) return true;
  return false;
}

const std::vector<std::string_view>& pre_tokenizer_names() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> v;
    for (const Entry& e : kEntries)
      if (!e.name.empty()) v.push_back(e.name);
    return v;
  }();
  return names;
}

}  // namespace vkmoe
