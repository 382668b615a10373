// Writes small MoE models of the supported architectures with deterministic pseudo-random
// weights and a real byte-level BPE tokenizer: for tests of every architecture, and for the
// built-in demo model.
#pragma once
#include <cstdint>
#include <string>

#include "runtime/gguf/gguf_writer.h"
#include "runtime/model/model_config.h"

namespace vkmoe {

struct SyntheticSpec {
  Arch arch = Arch::qwen3moe;
  std::string name = "vkmoe-synthetic";
  uint32_t n_embd = 64;         // H
  uint32_t n_layer = 2;
  uint32_t n_head = 4;
  uint32_t n_head_kv = 2;
  uint32_t head_dim = 16;       // Dk = Dv
  uint32_t n_expert = 8;
  uint32_t n_expert_used = 2;
  uint32_t n_ff_exp = 64;       // F
  uint32_t n_ff_shexp = 64;     // shared expert width (qwen2moe)
  uint32_t n_vocab = 320;       // >= 259: 256 bytes, 3 specials, then learned merges
  GgmlType matrix_type = GgmlType::F32;  // attention, experts, embedding and output matrices
  float rope_freq_base = 10000.0f;
  uint64_t seed = 1;
  std::string corpus;           // text the BPE merges are learned from (a built-in one if empty)
};

// The file in memory; write it with GgufWriter::write.
GgufWriter make_synthetic_model(const SyntheticSpec& spec);

// Deterministic generator, identical on every platform (no std:: distributions).
class SplitMix {
 public:
  explicit SplitMix(uint64_t seed) : s_(seed) {}
  uint64_t next();
  float uniform(float lo, float hi);  // [lo, hi)
  float normal();                     // Box-Muller

 private:
  uint64_t s_;
};

}  // namespace vkmoe
