#include "runtime/model/demo_model.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <span>
#include <unistd.h>

#include "runtime/gguf/gguf_reader.h"
#include "runtime/model/synthetic_model.h"
#include "runtime/quant/quant.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/util/safe_file.h"
#include "runtime/vk/pipeline.h"

namespace vkmoe {

namespace {

// Bump when the recipe changes: the cache file name carries it.
constexpr int kDemoVersion = 3;

// The checksum is the file's first metadata value, a u64 at a fixed offset: the header (24
// bytes), the key's length and text, its type. It covers every byte of the file but its own 8.
constexpr std::string_view kChecksumKey = "vkmoe.demo.checksum";
constexpr size_t kChecksumAt = 24 + 8 + kChecksumKey.size() + 4;

uint64_t demo_checksum(std::span<const uint8_t> bytes) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a, 64-bit
  for (size_t i = 0; i < bytes.size(); ++i) {
    const bool own = i >= kChecksumAt && i < kChecksumAt + 8;
    h = (h ^ (own ? 0 : bytes[i])) * 0x100000001b3ull;
  }
  return h;
}

// True when `bytes` are a demo model whose checksum matches.
bool demo_bytes_intact(std::span<const uint8_t> bytes) {
  if (bytes.size() < kChecksumAt + 8) return false;
  uint64_t key_len = 0, stored = 0;
  std::memcpy(&key_len, bytes.data() + 24, 8);
  if (key_len != kChecksumKey.size() || std::memcmp(bytes.data() + 32, kChecksumKey.data(), key_len) != 0) return false;
  std::memcpy(&stored, bytes.data() + kChecksumAt, 8);
  return stored == demo_checksum(bytes);
}

// Where the demo model lives. With no cache directory configured (no HOME), a directory only
// this user can use in the system temp folder: a shared /tmp path could be planted by others.
std::filesystem::path demo_dir() {
  auto dir = default_cache_dir();
  if (dir.empty()) return private_dir(std::filesystem::temp_directory_path(), "vkmoe-" + std::to_string(::geteuid()));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create the cache directory " + dir.string() + ": " + ec.message());
  return dir;
}

// Paragraphs become documents: each ends with the end-of-turn token, so generation stops there.
const char* kCorpus[] = {
    "A mixture of experts model keeps many small feed forward networks, the experts, and a router "
    "that picks a few of them for every token. The router scores each expert, keeps the best ones and "
    "weights their outputs. Only the chosen experts cost time, so a large model runs at the speed of a "
    "small one.",
    "vkmoe runs mixture of experts models on any graphics card through Vulkan compute shaders. It keeps "
    "every expert in the memory of the card, reads the model from a GGUF file, and shows which experts "
    "each token uses.",
    "Decode speed is bounded by memory bandwidth: every new token must read the weights of the chosen "
    "experts once. A fused kernel reads those bytes with few dispatches and reaches most of the bandwidth "
    "of the card.",
    "Hello! I am a tiny demo model. My weights were written by vkmoe itself, so I know only a few "
    "sentences about experts, routers and graphics cards. Load a real model with the m option to talk "
    "about anything else.",
    "The quick brown fox jumps over the lazy dog. The lazy dog sleeps in the sun, and the fox runs "
    "back into the green forest.",
    "On a machine without a graphics card, lavapipe runs the same shaders on the processor. It is slow, "
    "but every test runs there first, with the validation layer watching every call.",
};

}  // namespace

std::vector<uint8_t> make_demo_model() {
  std::string corpus;
  for (const char* p : kCorpus) corpus += std::string(p) + "\n";
  SyntheticSpec spec;
  spec.arch = Arch::qwen3moe;
  spec.name = "vkmoe-demo";
  spec.n_embd = 1024;  // >= vocabulary: the embedding is one-hot, the head holds the bigrams
  spec.n_layer = 2;
  spec.n_head = 4;
  spec.n_head_kv = 2;
  spec.head_dim = 32;
  spec.n_expert = 8;
  spec.n_expert_used = 2;
  spec.n_ff_exp = 64;
  spec.n_vocab = 1024;
  spec.matrix_type = GgmlType::F16;
  spec.seed = 20261123;
  spec.corpus = corpus;
  GgufWriter w = make_synthetic_model(spec);

  // The tokenizer that file carries, to count the corpus's bigrams in its own tokens.
  auto file = GgufFile::from_memory(w.to_bytes(), "vkmoe-demo.gguf");
  Tokenizer tok = Tokenizer::from_gguf(file);
  const uint32_t V = spec.n_vocab, H = spec.n_embd;
  const int32_t eot = 258;  // <|im_end|>, the model's end of turn
  std::vector<std::vector<double>> count(V, std::vector<double>(V, 0.0));
  for (const char* p : kCorpus) {
    auto ids = tok.encode(p);
    ids.push_back(eot);
    for (size_t i = 0; i + 1 < ids.size(); ++i) count[ids[i]][ids[i + 1]] += 1;
  }
  // After the chat template's "assistant\n" or any token the text never continues: start a
  // paragraph the way the text's own paragraphs start.
  std::vector<int32_t> starts;
  for (const char* p : kCorpus) starts.push_back(tok.encode(p).front());
  for (uint32_t t = 0; t < V; ++t) {
    double total = 0;
    for (double c : count[t]) total += c;
    if (total == 0)
      for (int32_t s : starts) count[t][s] += 1;
  }

  // Embedding: one-hot rows, large enough (RMS 20) that the random attention and expert
  // outputs (RMS about 1 each) only perturb them; the output head: log-probabilities over the
  // normalised one-hot (RMSNorm turns the spike into about sqrt(H) at its token).
  std::vector<float> embd(static_cast<size_t>(V) * H, 0.0f), head(static_cast<size_t>(V) * H, 0.0f);
  for (uint32_t t = 0; t < V; ++t) embd[static_cast<size_t>(t) * H + t] = std::sqrt(static_cast<float>(H)) * 20.0f;
  for (uint32_t t = 0; t < V; ++t) {
    double total = 0;
    for (double c : count[t]) total += c;
    for (uint32_t v = 0; v < V; ++v) {
      // Sharpened so sampling stays on the corpus's paths; unseen pairs get a low floor.
      const double p = (count[t][v] + 1e-4) / (total + 1e-4 * V);
      head[static_cast<size_t>(v) * H + t] = static_cast<float>(3.0 * std::log(p) / std::sqrt(static_cast<double>(H)));
    }
  }
  GgufWriter out;
  out.set_value(kChecksumKey, GgufValue::of(uint64_t{0}));  // first: see kChecksumAt
  for (const auto& m : file.metadata()) out.set_value(m.key, *file.get_value(m.key));
  for (const auto& t : file.tensors()) {
    if (t.name == "token_embd.weight") out.add_tensor(t.name, GgmlType::F16, t.shape, quantize(GgmlType::F16, embd));
    else if (t.name == "output.weight") out.add_tensor(t.name, GgmlType::F16, t.shape, quantize(GgmlType::F16, head));
    else {
      auto data = file.tensor_data(t);
      out.add_tensor(t.name, t.type, t.shape, std::vector<uint8_t>(data.begin(), data.end()));
    }
  }
  auto bytes = out.to_bytes();
  const uint64_t sum = demo_checksum(bytes);
  std::memcpy(bytes.data() + kChecksumAt, &sum, 8);
  return bytes;
}

bool demo_model_intact(const std::filesystem::path& path) {
  try {
    const std::string bytes = read_regular_file(path);
    return demo_bytes_intact({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
  } catch (const std::exception&) {
    return false;
  }
}

std::filesystem::path demo_model_path(bool verbose) {
  const auto path = demo_dir() / ("demo-v" + std::to_string(kDemoVersion) + ".gguf");
  if (demo_model_intact(path)) return path;
  std::error_code ec;
  const bool damaged = std::filesystem::exists(path, ec);
  if (verbose)
    std::fprintf(stderr, "%s the built-in demo model to %s\n", damaged ? "the cached demo model is damaged; writing" : "writing",
                 path.string().c_str());
  // Each process writes its own temporary file and renames it: concurrent first runs each
  // leave a whole file (the same bytes), never a mix.
  write_file_safely(path, make_demo_model());
  return path;
}

}  // namespace vkmoe
