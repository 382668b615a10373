// A model ready to run on the GPU: its file, config, resident weights, KV cache and activation
// buffers, and the forward pass. Each call to forward() records one Sequence per batch of
// tokens and submits it as one unit: no CPU round trip per layer.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <span>
#include <string>
#include <vector>

#include "runtime/gguf/gguf_reader.h"
#include "runtime/kernels/matmul.h"
#include "runtime/kernels/moe_experts.h"
#include "runtime/kernels/router.h"
#include "runtime/kernels/transformer_ops.h"
#include "runtime/memory/plan.h"
#include "runtime/model/model_config.h"
#include "runtime/model/model_weights.h"

namespace vkmoe {

class Context;
class Sequence;

struct ModelOptions {
  uint32_t n_ctx = 4096;    // KV cache length (-c)
  uint32_t n_batch = 256;   // tokens per prefill batch
  uint64_t mem_budget = 0;  // --mem-budget
  bool spill = false;       // --spill
  bool progress = true;     // progress bar while loading (on a terminal)
  bool expert_stats = true; // keep per-layer routing (ids and counts) for views and statistics
  bool profile = false;     // time every dispatch (also VKMOE_PROFILE=1); see profile_report()
  bool warm_up = true;      // run one token at load so first-use shader compilation (seconds on
                            // lavapipe) is not counted as prefill time
};

enum class LogitsMode { last, all };

// Routing of the last token of the last forward call, and token counts per expert.
struct RoutingSnapshot {
  uint32_t layers = 0, k = 0, experts = 0;
  std::vector<uint32_t> ids;       // [layers, k] experts chosen for the last token
  std::vector<float> weights;      // [layers, k]
  std::vector<uint32_t> counts;    // [layers, experts] tokens routed since reset_stats()
};

class Model {
 public:
  Model(Context& ctx, GgufFile file, ModelOptions options);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelConfig& config() const { return cfg_; }
  const GgufFile& file() const { return file_; }
  const MemoryPlan& plan() const { return plan_; }
  const LoadReport& load_report() const { return weights_.report; }
  uint32_t n_ctx() const { return opt_.n_ctx; }
  // Bytes the allocator took for this model, per category (staging belongs to the Context).
  uint64_t allocated_bytes(MemoryCategory c) const;
  struct MemoryRow {
    std::string category;  // category_name(), or "total"
    uint64_t planned = 0, allocated = 0;
  };
  // Planned against allocated bytes per category, then the total (inspect --load, plan_alloc_test).
  std::vector<MemoryRow> memory_rows() const;

  // Runs tokens at positions pos .. pos + n - 1 (the cache must hold 0 .. pos - 1) and returns
  // logits of the last position ([n_vocab]) or of every position ([n, n_vocab]).
  std::vector<float> forward(std::span<const int32_t> tokens, uint32_t pos, LogitsMode mode = LogitsMode::last);

  RoutingSnapshot routing() const;
  // Per-kernel GPU time summed over every forward call so far (when profiling).
  std::string profile_report() const;
  // The same as rows, largest first; and switching per-dispatch timing on or off from the next
  // forward call (bench model times decode without it, then profiles a step), clearing the sums.
  struct KernelProfile {
    std::string kernel;
    uint64_t calls = 0;
    double ms = 0;
  };
  std::vector<KernelProfile> profile_rows() const;
  void set_profile(bool on);
  void reset_stats();
  uint32_t last_dispatches() const { return last_dispatches_; }

 private:
  struct Layer;  // model_layer.h
  DenseWeight dense_weight(const std::string& name) const;
  BufferRange vector_weight(const std::string& name, uint64_t n) const;  // F32 [n], or empty if absent
  void bind_weights();
  void bind_attention_vectors(Layer& L, uint32_t l);
  // layers < n_layer: only the embedding and that many layers, no head (nan_check.cpp).
  void record_batch(Sequence& seq, uint32_t tokens, uint32_t pos, LogitsMode mode, uint32_t layers = UINT32_MAX);
  // nan_check.cpp: throws naming the first layer whose output is not finite when the logits of
  // the batch just run (tokens T at pos) hold NaN or Inf.
  void check_finite(std::span<const float> logits, uint32_t T, uint32_t pos);
  void record_attention_block(Sequence& seq, const Layer& L, uint32_t l, uint32_t T, uint32_t pos);
  void record_ffn_block(Sequence& seq, const Layer& L, uint32_t l, uint32_t T);
  // DeepSeek-V2/V3 (deepseek2.cpp): MLA attention and the leading dense FFN layers.
  Buffer allocate(const LayoutBuffer& b, MemoryUse use = MemoryUse::device, const std::string& suffix = "");
  Buffer allocate(uint64_t bytes, MemoryUse use, const std::string& name, MemoryCategory category);
  void bind_deepseek2_layer(Layer& L, uint32_t l);
  void record_mla_attention_block(Sequence& seq, const Layer& L, uint32_t T, uint32_t pos);
  void record_dense_ffn_block(Sequence& seq, const Layer& L, uint32_t T);

  Context& ctx_;
  GgufFile file_;
  ModelOptions opt_;
  ModelConfig cfg_;
  MemoryPlan plan_;
  ModelWeights weights_;
  std::vector<Layer> layers_;
  DenseWeight embd_, output_;
  BufferRange output_norm_;
  uint64_t allocated_[kMemoryCategories] = {};
  // Activations for one batch; shapes in activation_layout.h.
  Buffer x_, xn_, q_, qkv_, k_, v_, attn_, ids_, wts_, shared_gate_, logits_, tokens_, positions_, counts_;
  std::vector<Buffer> kv_;
  Buffer lora_, kv_a_, kv_b_, ffn_gate_, ffn_up_;  // deepseek2 only
  std::vector<Buffer> rebuilt_;  // weights made at load time (deepseek2's kv_b from k_b / v_b)
  MoeScratch scratch_;
  std::unique_ptr<Sequence> seq_;
  struct KernelTime {
    uint64_t calls = 0;
    double ms = 0;
  };
  std::map<std::string, KernelTime> profile_;
  double profile_wall_ms_ = 0;
  uint32_t last_tokens_ = 0;
  uint32_t last_dispatches_ = 0;
};

}  // namespace vkmoe
