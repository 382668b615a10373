#include "runtime/model/weights.h"

#include <stdexcept>

#include "runtime/kernels/transformer_ops.h"
#include "runtime/model/rope_scaling.h"
#include "runtime/vk/context.h"
#include "runtime/vk/sequence.h"

namespace vkmoe {

namespace {

// Tensors uploaded as one (model_weights.h), so a layer's attention front runs in two
// dispatches: q|k|v rows as one weight when the three share a type and fit one binding, and the
// F32 biases and QK-norm weights as one range each (the fused kernel's bindings).
std::vector<TensorConcat> attention_concats(const GgufFile& f, const ModelConfig& c, const DeviceCaps& caps) {
  std::vector<TensorConcat> out;
  auto group = [&](const std::string& name, std::vector<std::string> parts, bool need_f32) {
    if (f.find_tensor(name)) return;  // the file has its own
    const GgufTensorInfo* first = f.find_tensor(parts[0]);
    uint64_t bytes = 0;
    for (const auto& part : parts) {
      const GgufTensorInfo* t = f.find_tensor(part);
      if (!t || t->type != first->type || t->shape.size() != first->shape.size() || t->shape.size() > 2 ||
          (t->shape.size() == 2 && t->shape[0] != first->shape[0]) || (need_f32 && t->type != GgmlType::F32))
        return;
      bytes += t->bytes;
    }
    if (bytes + caps.storage_buffer_alignment > caps.max_storage_buffer_range) return;  // one binding
    out.push_back({name, std::move(parts)});
  };
  for (uint32_t l = 0; l < c.n_layer; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    const LayerSpec& ls = c.layers[l];
    if (ls.ffn == FfnKind::dense || ls.parallel_dense || ls.grok_dense)
      group(b + "ffn_gate_up.weight", {b + "ffn_gate.weight", b + "ffn_up.weight"}, false);
    if (c.layers[l].attention == AttentionKind::mla) {  // q (or its latent) and kv_a read the same input
      group(b + "attn_q_kv_a.weight", {b + (c.q_lora_rank ? "attn_q_a.weight" : "attn_q.weight"), b + "attn_kv_a_mqa.weight"},
            false);
      continue;
    }
    group(b + "attn_qkv.weight", {b + "attn_q.weight", b + "attn_k.weight", b + "attn_v.weight"}, false);
    group(b + "attn_qkv.bias", {b + "attn_q.bias", b + "attn_k.bias", b + "attn_v.bias"}, true);
    if (c.expert_bias)  // [gate's E x F | up's E x F]: one binding for the gate/up kernels
      group(b + "ffn_gate_up_exps.bias", {b + "ffn_gate_exps.bias", b + "ffn_up_exps.bias"}, true);
    if (c.qk_norm_per_head || c.qk_norm_full)
      group(b + "attn_qk_norm.weight", {b + "attn_q_norm.weight", b + "attn_k_norm.weight"}, true);
  }
  return out;
}

std::string shape_str(const std::vector<uint64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

}  // namespace

Weights::Weights(Context& ctx, GgufFile file, ModelConfig cfg, const MemoryPlan& plan, uint32_t n_ctx, bool progress,
                 MemoryTally& tally)
    : ctx_(ctx), file_(std::move(file)), cfg_(std::move(cfg)), tally_(&tally) {
  const uint64_t before = tally.used();
  tensors_ = upload_weights(ctx, file_, plan, progress, attention_concats(file_, cfg_, ctx.device().caps()));
  tally.add(MemoryCategory::weights, tally.used() - before);
  bind_layers(n_ctx);
  if (cfg_.logit_scale != 0.0f) {  // Granite, Grok: s logits = W (norm(x) (s w)); the output norm takes s once
    Sequence seq(ctx.device());
    record_scale(ctx, seq, {.rows = 1, .n = cfg_.n_embd}, head_.norm, head_.norm, cfg_.logit_scale);
    seq.run();
  }
  for (const auto& t : file_.tensors())
    if (cfg_.skipped_tensor(t.name)) tensors_.mark_used(t.name);  // NextN blocks, skipped as llama.cpp does
  tensors_.require_all_used(file_);
  tally_ = nullptr;
}

// Each layer's blocks, as its LayerSpec lists them. Every shape is checked against the config
// before a kernel sees it: a file whose tensors disagree with its metadata gets an error naming
// the tensor, never an out-of-range read.
void Weights::bind_layers(uint32_t n_ctx) {
  head_ = blocks::norm::bind_head(*this);
  // llama4's rope_freqs, or LongRoPE's long or short factors by the context (both checked and used).
  if (cfg_.rope_factors_long) vector("rope_factors_long.weight", cfg_.n_rot / 2);
  if (cfg_.rope_factors_short) vector("rope_factors_short.weight", cfg_.n_rot / 2);
  if (const std::string n = rope_factors_tensor(cfg_, n_ctx); !n.empty()) rope_freqs_ = vector(n, cfg_.n_rot / 2);
  for (uint32_t l = 0; l < cfg_.n_layer; ++l) {
    const LayerSpec& spec = cfg_.layers[l];
    LayerWeights L;
    L.norm = blocks::norm::bind(*this, l);
    if (spec.attention == AttentionKind::mla) L.mla = blocks::attention_mla::bind(*this, l);
    else L.gqa = blocks::attention_gqa::bind(*this, l);
    if (blocks::ffn_dense::present(spec)) L.dense = blocks::ffn_dense::bind(*this, l);
    if (spec.ffn == FfnKind::moe) L.moe = blocks::ffn_moe::bind(*this, l, L.norm);
    layers_.push_back(std::move(L));
  }
}

const Device& Weights::device() const { return ctx_.device(); }

void Weights::check_shape(const std::string& name, const std::vector<uint64_t>& shape, const std::vector<uint64_t>& want) const {
  if (same_shape(shape, want)) return;
  throw std::runtime_error(file_.name() + ": tensor '" + name + "' has shape " + shape_str(shape) + ", the metadata implies " +
                           shape_str(want));
}

DenseWeight Weights::dense(const std::string& name) const {
  const DeviceTensor& t = tensors_.get(name);
  if (shape_rank(t.shape) > 2) throw std::runtime_error(file_.name() + ": tensor '" + name + "' is not 2-D");
  // The embedding table is only looked up, unless the output head shares it.
  require_kernel_type(file_.name(), name, t.type, name == "token_embd.weight" && tensors_.find("output.weight"));
  return make_dense_weight(ctx_.device(), t.buffer, 0, t.type, static_cast<uint32_t>(shape_dim(t.shape, 1)),
                           static_cast<uint32_t>(t.shape[0]));
}

DenseWeight Weights::dense(const std::string& name, uint32_t rows, uint32_t cols) const {
  DenseWeight w = dense(name);
  if (w.rows != rows || w.cols != cols)
    throw std::runtime_error(file_.name() + ": tensor '" + name + "' maps " + std::to_string(w.cols) + " -> " +
                             std::to_string(w.rows) + ", expected " + std::to_string(cols) + " -> " + std::to_string(rows));
  return w;
}

DenseWeight Weights::dense_shaped(const std::string& name, uint64_t cols, uint64_t rows) const {
  check_shape(name, tensors_.get(name).shape, {cols, rows});
  return dense(name);
}

BufferRange Weights::vector(const std::string& name, uint64_t n) const {
  const DeviceTensor* t = tensors_.find(name);
  if (!t) return BufferRange{};
  if (t->type != GgmlType::F32)
    throw std::runtime_error(file_.name() + ": tensor '" + name + "' must be F32, is " + std::string(ggml_type_name(t->type)));
  if (t->bytes != n * 4)
    throw std::runtime_error(file_.name() + ": tensor '" + name + "' has " + std::to_string(t->bytes / 4) +
                             " elements, expected " + std::to_string(n));
  return t->buffer.range(0, t->bytes);
}

BufferRange Weights::need(const std::string& name, uint64_t n) const {
  BufferRange r = vector(name, n);  // throws unless F32 [n]
  if (!r.size) throw std::runtime_error(file_.name() + ": missing tensor '" + name + "'");
  return r;
}

ExpertTensor Weights::experts(const std::string& name, uint64_t cols, uint64_t rows, uint64_t n) const {
  const DeviceTensor& t = tensors_.get(name);
  check_shape(name, t.shape, {cols, rows, n});
  require_kernel_type(file_.name(), name, t.type);
  return make_expert_tensor(ctx_.device(), t.buffer, 0, t.type, static_cast<uint32_t>(n), static_cast<uint32_t>(rows),
                            static_cast<uint32_t>(cols));
}

ExpertTensor Weights::single(const std::string& name, uint64_t cols, uint64_t rows) const {
  const DeviceTensor& t = tensors_.get(name);
  check_shape(name, t.shape, {cols, rows});
  require_kernel_type(file_.name(), name, t.type);
  return make_expert_tensor(ctx_.device(), t.buffer, 0, t.type, 1, static_cast<uint32_t>(rows), static_cast<uint32_t>(cols));
}

const Buffer& Weights::upload_rebuilt(const std::string& name, const void* data, uint64_t bytes) {
  if (!tally_) throw std::logic_error(file_.name() + ": " + name + ": weights are made only while loading");
  Buffer buf = tally_->allocate((bytes + 3) / 4 * 4, MemoryUse::device, name, MemoryCategory::weights);
  ctx_.transfer().upload(buf, 0, data, bytes);
  rebuilt_.push_back(std::move(buf));
  return rebuilt_.back();
}

}  // namespace vkmoe
