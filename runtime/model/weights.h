// Weights: everything a loaded file gives the GPU, immutable after load and shared by every
// session. The uploaded tensors (ModelWeights), the config, the embedding and head, the RoPE
// frequency factors, and each layer's tensors bound per block (runtime/blocks/: one bound struct
// per block, made by the block's bind()).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/blocks/attention_gqa.h"
#include "runtime/blocks/attention_mla.h"
#include "runtime/blocks/ffn_dense.h"
#include "runtime/blocks/ffn_moe.h"
#include "runtime/blocks/norm.h"
#include "runtime/gguf/gguf_reader.h"
#include "runtime/memory/tally.h"
#include "runtime/model/model_config.h"
#include "runtime/model/model_weights.h"

namespace vkmoe {

class Context;

// Layer l's blocks as its LayerSpec lists them; a block the layer lacks stays default (empty).
struct LayerWeights {
  NormLayer norm;
  AttentionGqaLayer gqa;  // LayerSpec::attention == gqa
  AttentionMlaLayer mla;  // == mla
  FfnDenseLayer dense;    // FfnKind::dense, or beside the MoE (parallel_dense, grok_dense)
  FfnMoeLayer moe;        // FfnKind::moe
};

class Weights {
 public:
  // Uploads the file's tensors as the plan places them and binds every layer's blocks; the
  // allocations are counted in tally. n_ctx picks LongRoPE's factors.
  Weights(Context& ctx, GgufFile file, ModelConfig cfg, const MemoryPlan& plan, uint32_t n_ctx, bool progress, MemoryTally& tally);
  Weights(const Weights&) = delete;
  Weights& operator=(const Weights&) = delete;

  const ModelConfig& config() const { return cfg_; }
  const GgufFile& file() const { return file_; }
  const ModelWeights& tensors() const { return tensors_; }
  const HeadWeights& head() const { return head_; }
  BufferRange rope_freqs() const { return rope_freqs_; }  // [n_rot / 2], or empty
  const LayerWeights& layer(uint32_t l) const { return layers_.at(l); }
  const std::string& name() const { return file_.name(); }

  // For the blocks' bind(): lookups that check shapes and types, each error naming the file and
  // the tensor. find() and the others record the tensor as used (ModelWeights::require_all_used).
  const DeviceTensor* find(const std::string& name) const { return tensors_.find(name); }
  const DeviceTensor& get(const std::string& name) const { return tensors_.get(name); }
  void mark_used(const std::string& name) const { tensors_.mark_used(name); }
  DenseWeight dense(const std::string& name) const;
  DenseWeight dense(const std::string& name, uint32_t rows, uint32_t cols) const;  // checked: cols -> rows
  DenseWeight dense_shaped(const std::string& name, uint64_t cols, uint64_t rows) const;  // the file's shape checked too
  BufferRange vector(const std::string& name, uint64_t n) const;  // F32 [n], or empty if absent
  BufferRange need(const std::string& name, uint64_t n) const;    // F32 [n], throws if absent
  ExpertTensor experts(const std::string& name, uint64_t cols, uint64_t rows, uint64_t n) const;  // [cols, rows, n]
  ExpertTensor single(const std::string& name, uint64_t cols, uint64_t rows) const;  // a shared expert, [cols, rows]
  void check_shape(const std::string& name, const std::vector<uint64_t>& shape, const std::vector<uint64_t>& want) const;
  const Device& device() const;
  // A weight made at load (deepseek2's kv_b from k_b / v_b): allocated as a weight, uploaded, kept.
  // Only while binding, in the constructor.
  const Buffer& upload_rebuilt(const std::string& name, const void* data, uint64_t bytes);

 private:
  void bind_layers(uint32_t n_ctx);

  Context& ctx_;
  GgufFile file_;
  ModelConfig cfg_;
  ModelWeights tensors_;
  MemoryTally* tally_;  // while loading; null after: nothing is added to the weights then
  HeadWeights head_;
  BufferRange rope_freqs_;
  std::vector<LayerWeights> layers_;
  std::vector<Buffer> rebuilt_;
};

}  // namespace vkmoe
