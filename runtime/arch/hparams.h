// Reading one architecture's hyperparameters from GGUF metadata: the helpers every
// runtime/arch/<arch>.cpp uses, each failing with a message that names the file and the key.
#pragma once
#include <cstdint>
#include <string>

#include "runtime/arch/layer_spec.h"
#include "runtime/gguf/gguf_reader.h"

namespace vkmoe {

struct ModelConfig;

class Hparams {
 public:
  // prefix: "<general.architecture>." as written in the file.
  Hparams(const GgufFile& file, std::string prefix) : f_(file), p_(std::move(prefix)) {}
  const GgufFile& file() const { return f_; }
  const std::string& prefix() const { return p_; }

  [[noreturn]] void fail(const std::string& what) const;
  bool has(const std::string& key) const;  // key without the prefix
  // A required key in 1 .. 2^30, an optional one in 0 .. 2^30, a float in [min, max].
  uint32_t need_u32(const std::string& key) const;
  uint32_t opt_u32(const std::string& key, uint32_t def) const;
  float opt_float(const std::string& key, double def, double min, double max) const;
  bool opt_bool(const std::string& key, bool def) const;
  bool has_tensor(const std::string& name) const { return f_.find_tensor(name) != nullptr; }

 private:
  const GgufFile& f_;
  std::string p_;
};

// Every layer GQA attention, the first n_layer_dense_lead with a dense FFN, the rest MoE (with
// shared experts when n_expert_shared > 0): the layer list of most architectures.
void fill_layers(ModelConfig& c, AttentionKind attention = AttentionKind::gqa);

// Refuses heads whose key and value widths differ or that RoPE does not rotate whole (llama.cpp
// asserts both for most architectures).
void need_rope_over_whole_heads(const Hparams& h, const ModelConfig& c);

// expert_gating_func as llama.cpp reads it where it applies no default: 1 softmax, 2 sigmoid;
// sets the router's gating and whether a softmax router has a selection bias (exp_probs_b on
// the first MoE layer).
void read_gating_func(const Hparams& h, ModelConfig& c);
// The last nextn_predict_layers of block_count are NextN (multi-token prediction) blocks, which
// llama.cpp loads and skips (GLM-4.5, Ling 2.0): n_layer becomes the blocks that run.
void split_nextn_layers(const Hparams& h, ModelConfig& c);

}  // namespace vkmoe
