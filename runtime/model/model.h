// A model ready to run on the GPU: the weights (file, config, resident tensors bound per layer;
// shared by every conversation), the engine (pipelines, activation buffers for one batch, the
// command sequence, the profiler) and the planned KV caches that Sessions (session.h) take.
// Each call to forward() records one Sequence per batch of tokens and submits it as one unit:
// no CPU round trip per layer.
//
// Two ways to run it:
//  - Sessions: forward(session, tokens) runs a conversation at its own position;
//    decode(sessions, tokens) runs one token of each of several sessions as one batch (what a
//    server's slots need: the expert weights are read once for all of them).
//  - The default session, for a single conversation (the CLI, the GUI, most tests):
//    forward(tokens, pos), routing(), reset_stats(). It is one of the n_parallel sessions,
//    taken on first use.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
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
#include "runtime/model/session.h"

namespace vkmoe {

class Context;
class Sequence;

struct ModelOptions {
  uint32_t n_ctx = 4096;    // KV cache length (-c)
  uint32_t n_batch = 256;   // tokens per prefill batch
  uint32_t n_parallel = 1;  // sessions (-np), each with its own KV cache of n_ctx
  uint64_t mem_budget = 0;  // --mem-budget
  bool spill = false;       // --spill
  bool progress = true;     // progress bar while loading (on a terminal)
  bool expert_stats = true; // keep each session's per-layer routing (ids and counts) for views and statistics
  bool profile = false;     // time every dispatch (also VKMOE_PROFILE=1); see profile_report()
  bool warm_up = true;      // run one token at load so first-use shader compilation (seconds on
                            // lavapipe) is not counted as prefill time
  // Tests: changes the config read from the file before anything is planned, to bring constants
  // llama.cpp fixes (llama4's 8192-token chunks) within a test's reach; the reference gets the same.
  std::function<void(ModelConfig&)> adjust_config;
};

enum class LogitsMode { last, all };

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

  uint32_t n_parallel() const { return opt_.n_parallel; }
  // Tokens one pass holds: max(n_batch, n_parallel); decode() takes at most this many sessions.
  uint32_t max_batch() const { return plan_.layout.n_batch; }
  // Sessions that can still be created (n_parallel minus those alive, the default one included).
  uint32_t free_sessions() const;

  // Runs tokens in the session at positions position() .. position() + n - 1 (its cache holds
  // the rows before), advances its position by n and returns logits of the last position
  // ([n_vocab]) or of every position ([n, n_vocab]). More than n_batch tokens run as several
  // passes.
  std::vector<float> forward(Session& session, std::span<const int32_t> tokens, LogitsMode mode = LogitsMode::last);
  // One decode step of several sessions as one pass: tokens[i] runs in sessions[i] at its
  // position, which advances by one. The embedding, every matmul, the router and the experts
  // run once with T = n tokens (each expert's weights are read once for the whole batch); the
  // cache store and attention run per session, on its own cache at its own position. Returns
  // [n, n_vocab] logits, row i for sessions[i]. Sessions must be distinct and of this model,
  // 1 <= n <= max_batch(). Results equal each session's own forward() up to rounding: the
  // T = n matmuls may sum in another order than T = 1 (session_test states the bound).
  std::vector<float> decode(std::span<Session* const> sessions, std::span<const int32_t> tokens);

  // The default session: created on first use (one of the n_parallel caches).
  Session& default_session();
  // The default session at positions pos .. pos + n - 1 (its cache must hold 0 .. pos - 1).
  std::vector<float> forward(std::span<const int32_t> tokens, uint32_t pos, LogitsMode mode = LogitsMode::last);
  // The default session's routing (empty before it exists).
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
  void reset_stats();  // the default session's
  uint32_t last_dispatches() const { return last_dispatches_; }
  // Tokens per pass from which the MoE layers take their batched path (decode() of that many
  // sessions too): the device's crossover for this model's k / experts.
  uint32_t moe_batched_from() const { return scratch_.settings.batched_from_tokens; }

 private:
  friend class Session;
  struct Layer;  // model_layer.h
  // One pass: T tokens of one session (parts.size() == 1, any T), or one token of each of T
  // sessions (parts.size() == T; each part's rows are then pad()-aligned so it binds its own).
  struct Part {
    Session* session = nullptr;
    uint32_t first = 0, tokens = 0, pos = 0;  // rows first .. first + tokens - 1 of the batch
  };
  struct Pass {
    uint32_t tokens = 0;
    std::vector<Part> parts;
    LogitsMode mode = LogitsMode::last;
    // Floats between two tokens' rows of q, the attention output and MLA's kv (packed with one
    // part), and bytes between two parts' position slots.
    uint32_t q_stride = 0, o_stride = 0, kv_stride = 0;
    uint64_t pos_slot = 0;
  };
  Pass make_pass(std::vector<Part> parts, LogitsMode mode) const;
  // Uploads, records, runs; returns the logits of the pass's rows (mode last: of its last row),
  // or nothing when they are not wanted (a prefill batch before the last).
  std::vector<float> run_pass(const Pass& pass, std::span<const int32_t> tokens, bool want_logits);
  BufferRange part_positions(const Pass& pass, size_t part) const;  // u32 [tokens] of parts[part]
  BufferRange part_attn_scratch(size_t part) const;  // attention's split partials of parts[part]
  void collect_routing(const Pass& pass);  // session.cpp
  std::vector<Buffer> take_kv(uint32_t& slot);  // session.cpp
  void return_kv(uint32_t slot, std::vector<Buffer> buffers);
  DenseWeight dense_weight(const std::string& name) const;
  DenseWeight dense_weight(const std::string& name, uint32_t rows, uint32_t cols) const;  // checked: cols -> rows
  BufferRange vector_weight(const std::string& name, uint64_t n) const;  // F32 [n], or empty if absent
  void bind_weights();
  void bind_attention_vectors(Layer& L, uint32_t l);
  // gpt_oss_blocks.cpp: the output bias, sinks, router logit bias and expert biases a config's
  // flags ask for (attn_out_bias, LayerSpec::sinks, router_bias, expert_bias, swiglu_oai).
  void bind_layer_extras(Layer& L, uint32_t l);
  // layers < n_layer: only the embedding and that many layers, no head (nan_check.cpp).
  void record_pass(Sequence& seq, const Pass& pass, uint32_t layers = UINT32_MAX);
  // nan_check.cpp: throws naming the first layer whose output is not finite when the logits of
  // the pass just run hold NaN or Inf.
  void check_finite(std::span<const float> logits, const Pass& pass);
  void record_attention_block(Sequence& seq, const Layer& L, uint32_t l, const Pass& pass);
  // input: the router's input instead of x (arctic's MoE reads the layer's input; plain RMSNorm only).
  void record_ffn_block(Sequence& seq, const Layer& L, uint32_t l, uint32_t T, BufferRange input = {});
  // DeepSeek-V2/V3 (deepseek2.cpp): MLA attention.
  Buffer allocate(const LayoutBuffer& b, MemoryUse use = MemoryUse::device, const std::string& suffix = "");
  Buffer allocate(uint64_t bytes, MemoryUse use, const std::string& name, MemoryCategory category);
  void bind_deepseek2_layer(Layer& L, uint32_t l);
  void bind_dense_ffn(Layer& L, uint32_t l);  // dense_ffn.cpp: a leading dense layer's FFN
  void record_mla_attention_block(Sequence& seq, const Layer& L, uint32_t l, const Pass& pass);
  void record_dense_ffn_block(Sequence& seq, const Layer& L, uint32_t T);
  // norm_blocks.cpp: block norms with a bias or as LayerNorm (ModelConfig::norm_bias,
  // layer_norm), run as their own dispatch, and the output head's bias.
  bool fused_norms() const { return !cfg_.norm_bias && !cfg_.layer_norm; }
  void bind_norm_extras(Layer& L, uint32_t l);
  BufferRange record_block_norm(Sequence& seq, BufferRange w, BufferRange b, uint32_t T, uint32_t first_row = 0);
  // The head's extras: its bias, then grok's logit scale and final softcap.
  void record_output_bias(Sequence& seq, uint32_t rows);
  // grok: y (the attention's or the FFN's output, [T, H]) RMS-normed by w in place, added to x.
  void record_post_norm(Sequence& seq, BufferRange w, BufferRange y, uint32_t T);
  void bind_grok_dense(Layer& L, uint32_t l);  // dense_ffn.cpp: Grok-2's dense GELU FFN beside the MoE
  void record_grok_dense(Sequence& seq, const Layer& L, uint32_t T, BufferRange out);
  void bind_parallel_dense(Layer& L, uint32_t l);  // dense_ffn.cpp: arctic's dense FFN beside the MoE

  Context& ctx_;
  GgufFile file_;
  ModelOptions opt_;
  ModelConfig cfg_;
  MemoryPlan plan_;
  ModelWeights weights_;
  std::vector<Layer> layers_;
  DenseWeight embd_, output_;
  BufferRange output_norm_;
  BufferRange output_norm_b_, output_b_;  // phimoe: output_norm.bias [H], output.bias [n_vocab]
  BufferRange rope_freqs_;  // [n_rot / 2]: rope_freqs.weight (llama4) or LongRoPE's (rope_factors_tensor)
  uint64_t allocated_[kMemoryCategories] = {};
  // Activations for one batch (activation_layout.h has the sizes): B = tokens per batch, S =
  // sessions, H = n_embd, qw/kw/vw = the q/k/v widths, K = experts per token, L = layers; f32 unless said.
  Buffer x_;            // [B, H] residual stream
  Buffer xn_;           // [B, H] normed copy
  Buffer q_;            // [B, qw] or [S, pad(qw)]: q after bias, QK-norm and RoPE
  Buffer qkv_;          // [B, qw + kw + vw] projections (MLA: [B, max(qw, q_lora) + kv_lora + rope])
  Buffer k_, v_;        // [B, kw], [B, vw] when q, k and v differ in type
  Buffer attn_;         // [B, n_head * Dv] or [S, pad(n_head * Dv)] attention output
  Buffer ids_, wts_;    // u32 / f32 [L][align(B * K)]: router choices, one slice per layer
  Buffer routing_;      // host-visible copy of ids | wts, for the sessions' statistics
  Buffer shared_gate_;  // [B] Qwen2-MoE's sigmoid gate of the shared expert
  Buffer logits_;       // [B, vocab] host-visible
  Buffer tokens_;       // u32 [B] upload
  Buffer positions_;    // u32 [B], or [S][pad(4)]: one aligned slot per session
  std::vector<std::vector<Buffer>> kv_pool_;  // per planned session: K, V per layer; empty while taken
  std::unique_ptr<Session> default_;
  // deepseek2 only: lora_ [B, max(q_lora, kv_lora)], kv_a_ [B, kv_lora + rope], kv_b_ [B, n_head *
  // (nope + Dv)] or [S, pad(...)], ffn_gate_ [B, 2 * n_ff] gate | up, ffn_up_ [B, n_ff].
  Buffer lora_, kv_a_, kv_b_, ffn_gate_, ffn_up_;
  Buffer x_in_;  // arctic: [B, H] the layer's input, read by its MoE
  Buffer attn_split_;  // [S][pad(slot)] decode attention's split partials, one slot per session part
  std::vector<Buffer> rebuilt_;  // weights made at load time (deepseek2's kv_b from k_b / v_b)
  MoeScratch scratch_;
  std::unique_ptr<Sequence> seq_;
  struct KernelTime {
    uint64_t calls = 0;
    double ms = 0;
  };
  std::map<std::string, KernelTime> profile_;
  double profile_wall_ms_ = 0;
  uint32_t last_dispatches_ = 0;
};

}  // namespace vkmoe
