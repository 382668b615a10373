#include "runtime/model/model.h"

#include "runtime/model/model_layer.h"
#include "runtime/model/rope_scaling.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cmath>
#include <stdexcept>

#include "runtime/vk/context.h"
#include "runtime/vk/instance.h"
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
    if (c.layers[l].ffn == FfnKind::dense || c.layers[l].parallel_dense) group(b + "ffn_gate_up.weight", {b + "ffn_gate.weight", b + "ffn_up.weight"}, false);
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
// Whether a shared expert can ride as one more slot of the routed decode pair (SharedExpertSlot):
// the routed tensors' types, one binding per tensor.
bool fits_shared_slot(const MoeFfnWeights& r, const MoeFfnWeights& sh) {
  return sh.gate.type == r.gate.type && sh.up.type == r.up.type && sh.down.type == r.down.type &&
         sh.gate.pieces.size() == 1 && sh.up.pieces.size() == 1 && sh.down.pieces.size() == 1;
}
}  // namespace

Model::Model(Context& ctx, GgufFile file, ModelOptions options)
    : ctx_(ctx), file_(std::move(file)), opt_(options), cfg_(load_model_config(file_)) {
  if (opt_.adjust_config) opt_.adjust_config(cfg_);
  opt_.n_ctx = std::max<uint32_t>(1, opt_.n_ctx);
  opt_.profile = (opt_.profile || env_flag("VKMOE_PROFILE")) && ctx.device().features().timestamps;
  opt_.n_batch = std::clamp<uint32_t>(opt_.n_batch, 1, opt_.n_ctx);
  opt_.n_parallel = std::max<uint32_t>(1, opt_.n_parallel);
  PlanOptions po{.n_ctx = opt_.n_ctx, .n_batch = opt_.n_batch, .n_parallel = opt_.n_parallel, .mem_budget = opt_.mem_budget,
                 .spill = opt_.spill};
  plan_ = plan_memory(file_, cfg_, ctx.device().caps(), po);
  const uint64_t before = ctx.allocator().stats().used;
  weights_ = upload_weights(ctx, file_, plan_, opt_.progress, attention_concats(file_, cfg_, ctx.device().caps()));
  allocated_[static_cast<int>(MemoryCategory::weights)] += ctx.allocator().stats().used - before;

  // Every other buffer comes from the plan's layout, byte for byte (activation_layout.h).
  const ActivationLayout& lay = plan_.layout;
  x_ = allocate(lay.x);
  xn_ = allocate(lay.xn);
  q_ = allocate(lay.q);
  qkv_ = allocate(lay.qkv);
  k_ = allocate(lay.k);
  v_ = allocate(lay.v);
  attn_ = allocate(lay.attn);
  // Router outputs: one aligned slice per layer, copied to routing_ for the sessions' statistics.
  ids_ = allocate(lay.ids);
  wts_ = allocate(lay.wts);
  routing_ = allocate(lay.routing, MemoryUse::readback);
  shared_gate_ = allocate(lay.shared_gate);
  logits_ = allocate(lay.logits, MemoryUse::readback);
  tokens_ = allocate(lay.tokens, MemoryUse::upload);
  positions_ = allocate(lay.positions, MemoryUse::upload);
  lora_ = allocate(lay.mla_latent);
  kv_a_ = allocate(lay.mla_kv_a);
  kv_b_ = allocate(lay.mla_kv);
  ffn_gate_ = allocate(lay.ffn_gate);
  ffn_up_ = allocate(lay.ffn_up);
  x_in_ = allocate(lay.x_in);
  // The device's crossover for this model's shape: a server's decode step of n slots takes the
  // batched path once n x k / experts passes it.
  scratch_.settings.batched_from_tokens = default_batched_from_tokens(ctx.device(), cfg_.n_expert, cfg_.n_expert_used);
  scratch_.h = allocate(lay.moe_h);
  scratch_.y = allocate(lay.moe_y);
  scratch_.route = allocate(lay.moe_route);
  attn_split_ = allocate(lay.attn_split);
  // The sessions' KV caches, all planned ones at load: a Session takes one (session.h).
  kv_pool_.resize(lay.n_sessions);
  for (uint32_t s = 0; s < lay.n_sessions; ++s)
    for (uint32_t l = 0; l < cfg_.n_layer; ++l) {
      const std::string suffix = " " + std::to_string(l) + (s ? " session " + std::to_string(s) : "");
      kv_pool_[s].push_back(allocate(lay.ring(l) ? lay.k_ring : lay.k_cache, MemoryUse::device, suffix));
      kv_pool_[s].push_back(allocate(lay.ring(l) ? lay.v_ring : lay.v_cache, MemoryUse::device, suffix));
    }
  bind_weights();
  if (cfg_.logit_scale != 0.0f) {  // Granite, Grok: s logits = W (norm(x) (s w)); the output norm takes s once
    Sequence seq(ctx.device());
    record_scale(ctx, seq, {.rows = 1, .n = cfg_.n_embd}, output_norm_, output_norm_, cfg_.logit_scale);
    seq.run();
  }
  for (const auto& t : file_.tensors())
    if (cfg_.skipped_tensor(t.name)) weights_.mark_used(t.name);  // NextN blocks, skipped as llama.cpp does
  weights_.require_all_used(file_);
  if (opt_.warm_up) {  // in a session of its own, given back at once
    Session warm(*this);
    const int32_t token = cfg_.bos >= 0 && static_cast<uint32_t>(cfg_.bos) < cfg_.n_vocab ? cfg_.bos : 0;
    forward(warm, std::span<const int32_t>(&token, 1));
    profile_.clear();
    profile_wall_ms_ = 0;
  }
}

Model::~Model() = default;

// Allocates one layout buffer (none when its size is 0) and counts what the allocator took for
// it, alignment included, under its category.
Buffer Model::allocate(const LayoutBuffer& b, MemoryUse use, const std::string& suffix) {
  return allocate(b.bytes, use, b.name + suffix, b.category);
}

Buffer Model::allocate(uint64_t bytes, MemoryUse use, const std::string& name, MemoryCategory category) {
  if (bytes == 0) return Buffer{};
  const uint64_t before = ctx_.allocator().stats().used;
  Buffer buf = ctx_.allocator().create_buffer(bytes, use, name);
  allocated_[static_cast<int>(category)] += ctx_.allocator().stats().used - before;
  return buf;
}

uint64_t Model::allocated_bytes(MemoryCategory c) const {
  if (c == MemoryCategory::staging) return ctx_.transfer().staging_bytes();  // the Context's ring
  return allocated_[static_cast<int>(c)];
}

std::vector<Model::MemoryRow> Model::memory_rows() const {
  std::vector<MemoryRow> rows;
  MemoryRow total{"total"};
  for (int i = 0; i < kMemoryCategories; ++i) {
    const auto c = static_cast<MemoryCategory>(i);
    rows.push_back({category_name(c), plan_.planned(c), allocated_bytes(c)});
    total.planned += rows.back().planned;
    total.allocated += rows.back().allocated;
  }
  rows.push_back(total);
  return rows;
}

DenseWeight Model::dense_weight(const std::string& name) const {
  const DeviceTensor& t = weights_.get(name);
  if (shape_rank(t.shape) > 2) throw std::runtime_error(file_.name() + ": tensor '" + name + "' is not 2-D");
  // The embedding table is only looked up, unless the output head shares it.
  require_kernel_type(file_.name(), name, t.type, name == "token_embd.weight" && weights_.find("output.weight"));
  return make_dense_weight(ctx_.device(), t.buffer, 0, t.type, static_cast<uint32_t>(shape_dim(t.shape, 1)),
                           static_cast<uint32_t>(t.shape[0]));
}

DenseWeight Model::dense_weight(const std::string& name, uint32_t rows, uint32_t cols) const {
  DenseWeight w = dense_weight(name);
  if (w.rows != rows || w.cols != cols)
    throw std::runtime_error(file_.name() + ": tensor '" + name + "' maps " + std::to_string(w.cols) + " -> " +
                             std::to_string(w.rows) + ", expected " + std::to_string(cols) + " -> " + std::to_string(rows));
  return w;
}

BufferRange Model::vector_weight(const std::string& name, uint64_t n) const {
  const DeviceTensor* t = weights_.find(name);
  if (!t) return BufferRange{};
  if (t->type != GgmlType::F32)
    throw std::runtime_error(file_.name() + ": tensor '" + name + "' must be F32, is " + std::string(ggml_type_name(t->type)));
  if (t->bytes != n * 4)
    throw std::runtime_error(file_.name() + ": tensor '" + name + "' has " + std::to_string(t->bytes / 4) +
                             " elements, expected " + std::to_string(n));
  return t->buffer.range(0, t->bytes);
}

void Model::bind_weights() {
  const Device& dev = ctx_.device();
  // Every shape is checked against the config before a kernel sees it: a file whose tensors
  // disagree with its metadata gets an error naming the tensor, never an out-of-range read.
  auto check_shape = [&](const std::string& name, const auto& t, std::vector<uint64_t> want) {
    if (same_shape(t.shape, want)) return;
    auto str = [](const std::vector<uint64_t>& v) {
      std::string s = "[";
      for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
      return s + "]";
    };
    throw std::runtime_error(file_.name() + ": tensor '" + name + "' has shape " + str(t.shape) + ", the metadata implies " +
                             str(want));
  };
  auto experts = [&](const std::string& name, uint64_t cols, uint64_t rows, uint64_t n) {
    const DeviceTensor& t = weights_.get(name);
    check_shape(name, t, {cols, rows, n});
    require_kernel_type(file_.name(), name, t.type);
    return make_expert_tensor(dev, t.buffer, 0, t.type, static_cast<uint32_t>(n), static_cast<uint32_t>(rows),
                              static_cast<uint32_t>(cols));
  };
  auto single = [&](const std::string& name, uint64_t cols, uint64_t rows) {
    const DeviceTensor& t = weights_.get(name);
    check_shape(name, t, {cols, rows});
    require_kernel_type(file_.name(), name, t.type);
    return make_expert_tensor(dev, t.buffer, 0, t.type, 1, static_cast<uint32_t>(rows), static_cast<uint32_t>(cols));
  };
  const auto [NH, NKV, Dk, Dv] = cfg_.attention_shape();
  const uint32_t H = cfg_.n_embd, E = cfg_.n_expert, F = cfg_.n_ff_exp, V = cfg_.n_vocab;
  auto dense_shaped = [&](const std::string& name, uint64_t cols, uint64_t rows) {
    check_shape(name, weights_.get(name), {cols, rows});
    return dense_weight(name);
  };
  embd_ = dense_shaped("token_embd.weight", H, V);
  output_ = weights_.find("output.weight") ? dense_shaped("output.weight", H, V) : embd_;  // tied embeddings
  output_norm_ = vector_weight("output_norm.weight", H);
  // llama4's rope_freqs, or LongRoPE's long or short factors by the context (both checked and used).
  if (cfg_.rope_factors_long) vector_weight("rope_factors_long.weight", cfg_.n_rot / 2);
  if (cfg_.rope_factors_short) vector_weight("rope_factors_short.weight", cfg_.n_rot / 2);
  if (const std::string n = rope_factors_tensor(cfg_, opt_.n_ctx); !n.empty()) rope_freqs_ = vector_weight(n, cfg_.n_rot / 2);
  for (uint32_t l = 0; l < cfg_.n_layer; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    Layer L;
    L.attn_norm = vector_weight(b + "attn_norm.weight", H);
    L.ffn_norm = vector_weight(b + cfg_.ffn_norm + ".weight", H);
    L.wo = dense_shaped(b + "attn_output.weight", NH * Dv, H);
    const LayerSpec& spec = cfg_.layers[l];
    if (spec.ffn == FfnKind::dense) bind_dense_ffn(L, l);
    if (spec.attention == AttentionKind::mla) {
      bind_deepseek2_layer(L, l);
    } else if (weights_.find(b + "attn_qkv.weight")) {  // each part checked by name, as the file has it
      for (const auto& [part, rows] : {std::pair{"attn_q", NH * Dk}, {"attn_k", NKV * Dk}, {"attn_v", NKV * Dv}})
        if (const GgufTensorInfo* t = file_.find_tensor(b + part + ".weight")) check_shape(b + part + ".weight", *t, {H, rows});
      L.wqkv = dense_shaped(b + "attn_qkv.weight", H, NH * Dk + NKV * (Dk + Dv));
    } else {
      L.wq = dense_shaped(b + "attn_q.weight", H, NH * Dk);
      L.wk = dense_shaped(b + "attn_k.weight", H, NKV * Dk);
      L.wv = dense_shaped(b + "attn_v.weight", H, NKV * Dv);
    }
    if (spec.attention == AttentionKind::gqa) bind_attention_vectors(L, l);
    if (L.dense_ffn) {
      bind_layer_extras(L, l);  // the attention's extras only
      layers_.push_back(std::move(L));
      continue;
    }
    const DeviceTensor& gate_inp = weights_.get(b + "ffn_gate_inp.weight");
    check_shape(b + "ffn_gate_inp.weight", gate_inp, {H, E});
    L.router.type = gate_inp.type;
    L.router.w = gate_inp.buffer.range(0, gate_inp.bytes);
    L.router.bias = vector_weight(b + "exp_probs_b.bias", cfg_.n_expert);
    L.router.norm = L.ffn_norm;  // the FFN norm runs inside the router, which writes the normed x
    L.router.norm_eps = cfg_.norm_eps;
    if (const DeviceTensor* sg = weights_.find(b + "ffn_gate_inp_shexp.weight")) {
      L.router.shared_type = sg->type;
      L.router.shared_gate_w = sg->buffer.range(0, sg->bytes);
    }
    L.experts = {experts(b + "ffn_gate_exps.weight", H, F, E), experts(b + "ffn_up_exps.weight", H, F, E),
                 experts(b + "ffn_down_exps.weight", F, H, E)};
    if (weights_.find(b + "ffn_gate_shexp.weight")) {
      const uint32_t Fs = cfg_.n_ff_shexp;
      L.shared = true;
      L.shared_experts = {single(b + "ffn_gate_shexp.weight", H, Fs), single(b + "ffn_up_shexp.weight", H, Fs),
                          single(b + "ffn_down_shexp.weight", Fs, H)};
      L.shared_in_slot = fits_shared_slot(L.experts, L.shared_experts);
    }
    bind_layer_extras(L, l);
    layers_.push_back(std::move(L));
  }
}

// The biases and QK-norm weights, concatenated at load ([q | k | v], [q_norm | k_norm]) for the
// fused rope_kv_store kernel. A file with only some of them, or not in F32, gets an error
// naming the tensor.
void Model::bind_attention_vectors(Layer& L, uint32_t l) {
  const std::string b = "blk." + std::to_string(l) + ".";
  const auto [NH, NKV, Dk, Dv] = cfg_.attention_shape();
  auto all_or_none = [&](const std::string& fused, uint64_t n, const std::vector<std::pair<std::string, uint64_t>>& parts) {
    if (weights_.find(b + fused)) {
      for (const auto& [name, len] : parts)
        if (const GgufTensorInfo* t = file_.find_tensor(b + name); t && t->elements() != len)
          throw std::runtime_error(file_.name() + ": tensor '" + b + name + "' has " + std::to_string(t->elements()) +
                                   " elements, expected " + std::to_string(len));
      return vector_weight(b + fused, n);
    }
    bool any = false;
    for (const auto& [name, len] : parts) any |= vector_weight(b + name, len).size > 0;  // throws when not F32 [len]
    if (any)
      throw std::runtime_error(file_.name() + ": '" + b + parts[0].first + "' and the tensors with it must all be present");
    return BufferRange{};
  };
  L.bqkv = all_or_none("attn_qkv.bias", uint64_t(NH) * Dk + NKV * (Dk + Dv),
                       {{"attn_q.bias", NH * Dk}, {"attn_k.bias", NKV * Dk}, {"attn_v.bias", NKV * Dv}});
  const uint32_t qn = cfg_.qk_norm_full ? NH * Dk : Dk, kn = cfg_.qk_norm_full ? NKV * Dk : Dk;
  if (cfg_.qk_norm_per_head || cfg_.qk_norm_full) {
    L.qk_norm = all_or_none("attn_qk_norm.weight", qn + kn, {{"attn_q_norm.weight", qn}, {"attn_k_norm.weight", kn}});
    if (!L.qk_norm.size) throw std::runtime_error(file_.name() + ": missing tensor '" + b + "attn_q_norm.weight'");
  }
}

Model::Pass Model::make_pass(std::vector<Part> parts, LogitsMode mode) const {
  Pass p;
  p.mode = mode;
  for (const Part& part : parts) p.tokens += part.tokens;
  // Several sessions: each binds its own rows of q, the attention output and MLA's kv, and its
  // own position slot, so their rows start at binding-aligned offsets. One: packed, as always.
  const bool per_session = parts.size() > 1;
  const ActivationLayout& lay = plan_.layout;
  auto stride = [&](uint64_t floats) { return static_cast<uint32_t>(per_session ? lay.pad(floats * 4) / 4 : floats); };
  const ModelConfig::AttentionShape a = cfg_.attention_shape();
  p.q_stride = stride(uint64_t(a.n_head) * a.head_dim_k);
  p.o_stride = stride(uint64_t(a.n_head) * a.head_dim_v);
  p.kv_stride = stride(uint64_t(a.n_head) * (cfg_.qk_nope_dim + a.head_dim_v));
  p.pos_slot = per_session ? lay.pad(4) : 0;
  p.parts = std::move(parts);
  return p;
}

BufferRange Model::part_positions(const Pass& pass, size_t i) const {
  return positions_.range(i * pass.pos_slot, pass.parts[i].tokens * 4ull);
}

BufferRange Model::part_attn_scratch(size_t i) const {  // session part i's slot (empty: no split)
  const ActivationLayout& lay = plan_.layout;
  return i < lay.n_sessions ? attn_split_.range(i * lay.pad(lay.attn_split_slot), lay.attn_split_slot) : BufferRange{};
}

std::vector<float> Model::run_pass(const Pass& pass, std::span<const int32_t> tokens, bool want_logits) {
  const uint32_t T = pass.tokens;
  // Token ids and positions go through host-visible buffers; the pass reads them on the GPU.
  std::vector<uint32_t> ids(T), positions(pass.pos_slot ? pass.parts.size() * pass.pos_slot / 4 : T);
  for (uint32_t i = 0; i < T; ++i) ids[i] = static_cast<uint32_t>(tokens[i]);
  for (size_t i = 0; i < pass.parts.size(); ++i)
    for (uint32_t t = 0; t < pass.parts[i].tokens; ++t) positions[i * pass.pos_slot / 4 + t] = pass.parts[i].pos + t;
  ctx_.transfer().upload(tokens_, 0, ids.data(), T * 4ull);
  ctx_.transfer().upload(positions_, 0, positions.data(), positions.size() * 4ull);
  // One Sequence for the model's life: its command buffer, fence and pools are reused.
  if (!seq_) seq_ = std::make_unique<Sequence>(ctx_.device(), SequenceOptions{.timestamps = opt_.profile, .name = "forward"});
  Sequence& seq = *seq_;
  record_pass(seq, pass);
  const auto t0 = std::chrono::steady_clock::now();
  seq.run();
  if (opt_.profile) {
    profile_wall_ms_ += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    for (const auto& t : seq.timings()) {
      auto& k = profile_[t.label];
      ++k.calls;
      k.ms += t.ms;
    }
  }
  last_dispatches_ = seq.dispatches();
  if (opt_.expert_stats) collect_routing(pass);
  if (!want_logits) return {};
  std::vector<float> out(static_cast<size_t>(pass.mode == LogitsMode::all ? T : 1) * cfg_.n_vocab);
  ctx_.transfer().download(logits_, 0, out.data(), out.size() * 4);
  check_finite(out, pass);
  return out;
}

void Model::record_pass(Sequence& seq, const Pass& pass, uint32_t layers) {
  const uint32_t H = cfg_.n_embd, T = pass.tokens;
  record_get_rows(ctx_, seq, embd_, T, tokens_.range(0, T * 4ull), x_.range(0, T * H * 4ull), 0,
                  cfg_.embedding_scale != 0.0f ? cfg_.embedding_scale : 1.0f);  // Granite's and Grok's embedding scale
  for (uint32_t l = 0; l < std::min(cfg_.n_layer, layers); ++l) {
    const bool par = layers_[l].parallel;  // arctic: the MoE reads the layer's input, kept in x_in
    if (par) seq.copy(x_.range(0, T * H * 4ull), x_in_.range(0, T * H * 4ull));
    if (cfg_.layers[l].attention == AttentionKind::mla) record_mla_attention_block(seq, layers_[l], l, pass);
    else record_attention_block(seq, layers_[l], l, pass);
    if (layers_[l].dense_ffn || par) record_dense_ffn_block(seq, layers_[l], T);
    if (!layers_[l].dense_ffn) record_ffn_block(seq, layers_[l], l, T, par ? x_in_.range(0, T * H * 4ull) : BufferRange{});
  }
  if (layers < cfg_.n_layer) return;
  // Output norm and head: every row, or only the last one; the norm folded into the head's
  // matmul when the row's offset meets the binding alignment (always at decode), else read at its
  // float offset by rms_norm.
  const uint32_t rows = pass.mode == LogitsMode::all ? T : 1;
  const BufferRange logits = logits_.range(0, rows * 4ull * cfg_.n_vocab);
  const uint64_t first = (T - rows) * H * 4ull;
  if (fused_norms() && first % std::max<uint64_t>(4, ctx_.device().caps().storage_buffer_alignment) == 0) {
    record_matmul(ctx_, seq, output_, rows, x_.range(first, rows * H * 4ull), logits,
                  {.norm = NormPrologue{output_norm_, cfg_.norm_eps}});
  } else {
    record_matmul(ctx_, seq, output_, rows, record_block_norm(seq, output_norm_, output_norm_b_, rows, T - rows), logits);
  }
  record_output_bias(seq, rows);
  if (opt_.expert_stats && cfg_.n_expert) {  // the batch's routing, read back by collect_routing
    const uint64_t bytes = cfg_.n_layer * plan_.layout.ids_slice(T);
    seq.copy(ids_.range(0, bytes), routing_.range(0, bytes));
    seq.copy(wts_.range(0, bytes), routing_.range(plan_.layout.ids.bytes, bytes));
  }
}

// Attention: q/k/v projections with the attention norm folded in (one matvec when fused at
// load), then one kernel for bias, QK-norm, RoPE and the cache store, attention, output
// projection added into the residual.
void Model::record_attention_block(Sequence& seq, const Layer& L, uint32_t l, const Pass& pass) {
  const auto [NH, NKV, Dk, Dv] = cfg_.attention_shape();
  const uint32_t H = cfg_.n_embd, qw = NH * Dk, kw = NKV * Dk, vw = NKV * Dv, row = qw + kw + vw, T = pass.tokens;
  const BufferRange x = x_.range(0, T * H * 4ull);
  // The attention norm, fused into the projections; one with a bias or a LayerNorm runs first.
  const bool fused = fused_norms();
  const BufferRange in = fused ? x : record_block_norm(seq, L.attn_norm, L.attn_norm_b, T);
  const MatmulOptions normed = fused ? MatmulOptions{.norm = NormPrologue{L.attn_norm, cfg_.norm_eps}} : MatmulOptions{};
  RopeKvShape s{.tokens = T, .heads = NH, .eps = cfg_.norm_eps, .clamp = cfg_.clamp_kqv};
  s.norm = cfg_.qk_norm_per_head ? QkNorm::per_head : cfg_.qk_norm_full ? QkNorm::full : QkNorm::none;
  s.norm_after_rope = cfg_.qk_norm_after_rope;
  BufferRange qi, ki, vi;
  if (L.wqkv.rows) {  // one [T, q | k | v] matvec; the kernel reads each part at its offset
    qi = ki = vi = qkv_.range(0, T * row * 4ull);
    record_matmul(ctx_, seq, L.wqkv, T, in, qi, normed);
    s.q_stride = s.k_stride = s.v_stride = row;
    s.k_offset = qw;
    s.v_offset = qw + kw;
  } else {  // the three differ in type
    qi = qkv_.range(0, T * qw * 4ull), ki = k_.range(0, T * kw * 4ull), vi = v_.range(0, T * vw * 4ull);
    record_matmul(ctx_, seq, L.wq, T, in, qi, normed);
    record_matmul(ctx_, seq, L.wk, T, in, ki, normed);
    record_matmul(ctx_, seq, L.wv, T, in, vi, normed);
  }
  RopeConfig rope{.head_dim = Dk, .n_rot = cfg_.n_rot, .neox = cfg_.rope_layout == RopeLayout::neox,
                  .freq_base = cfg_.rope_freq_base, .freq_scale = cfg_.rope_freq_scale};
  if (cfg_.rope_yarn) {
    rope.ext_factor = cfg_.rope_yarn_ext_factor;
    rope.n_ctx_orig = cfg_.rope_yarn_orig_ctx;
    rope.beta_fast = cfg_.rope_yarn_beta_fast, rope.beta_slow = cfg_.rope_yarn_beta_slow;
  }
  rope.attn_factor = static_cast<float>(rope_attn_factor(cfg_, false));
  const LayerSpec& spec = cfg_.layers[l];
  if (!spec.rope) rope.n_rot = 0, rope.ext_factor = 0.0f;  // llama4's NoPE layers
  else s.freq_factors = rope_freqs_;
  if (spec.qk_l2_norm) s.norm = QkNorm::per_head, s.unit_norm = true;
  if (spec.attn_temp)
    s.temp_scale = cfg_.attn_temp_scale, s.temp_offset = cfg_.attn_temp_offset, s.temp_floor = cfg_.attn_temp_floor;
  // Each session's rows: into its own cache at its positions, attention over that cache.
  for (size_t i = 0; i < pass.parts.size(); ++i) {
    const Part& p = pass.parts[i];
    const KvCacheLayer& kv = p.session->kv_[l];
    RopeKvShape sp = s;
    sp.tokens = p.tokens;
    sp.q_offset += p.first * (s.q_stride ? s.q_stride : qw);
    sp.k_offset += p.first * (s.k_stride ? s.k_stride : kw);
    sp.v_offset += p.first * (s.v_stride ? s.v_stride : vw);
    const BufferRange q = q_.range(p.first * pass.q_stride * 4ull, p.tokens * qw * 4ull);
    const BufferRange o = attn_.range(p.first * pass.o_stride * 4ull, p.tokens * NH * Dv * 4ull);
    record_rope_kv_store(ctx_, seq, kv, rope, sp, qi, ki, vi, part_positions(pass, i), L.bqkv, L.qk_norm, q);
    record_attention(ctx_, seq, kv,
                     {.tokens = p.tokens, .pos = p.pos, .heads = NH, .scale = cfg_.attn_scale, .window = spec.window,
                      .sinks = L.sinks, .chunked = spec.chunked, .softcap = cfg_.attn_softcap,
                      .scratch = part_attn_scratch(i)},
                     q, o);
  }
  if (cfg_.residual_scale != 0.0f)  // Granite: Wo (r a) = r (Wo a), the branch scaled before its residual add
    record_scale(ctx_, seq, {.rows = T, .n = NH * Dv, .a_stride = pass.o_stride, .y_stride = pass.o_stride},
                 attn_.range(0, T * pass.o_stride * 4ull), attn_.range(0, T * pass.o_stride * 4ull), cfg_.residual_scale);
  const bool post = L.attn_post_norm.size > 0;  // grok: the output normed (in xn) before the residual add
  const BufferRange o = post ? xn_.range(0, T * H * 4ull) : x;
  record_matmul(ctx_, seq, L.wo, T, attn_.range(0, T * pass.o_stride * 4ull), o,
                {.x_stride = pass.o_stride, .accumulate = !post});
  if (post) record_post_norm(seq, L.attn_post_norm, o, T);
  if (L.bo.size) record_add(ctx_, seq, {.rows = T, .n = H, .b_stride = kEltBroadcast}, x, L.bo, x);
}

// Feed-forward: router with the norm folded in (and Qwen2-MoE's shared gate), routed experts and
// shared experts (a slot of the routed pair when their types match) added into the residual.
void Model::record_ffn_block(Sequence& seq, const Layer& L, uint32_t l, uint32_t T, BufferRange input) {
  const uint32_t H = cfg_.n_embd, K = cfg_.n_expert_used;
  const uint64_t slice = plan_.layout.ids_slice(T);  // routing_ reads the slices of this batch size
  const BufferRange x = x_.range(0, T * H * 4ull), xn = xn_.range(0, T * H * 4ull);
  const BufferRange ids = ids_.range(l * slice, T * K * 4ull), wts = wts_.range(l * slice, T * K * 4ull);
  const bool gated = L.shared && L.router.shared_gate_w.size;
  const bool fused = fused_norms();  // else the norm runs first (norm_blocks.cpp) and the router reads xn
  if (!fused) record_block_norm(seq, L.ffn_norm, L.ffn_norm_b, T);
  record_router(ctx_, seq, cfg_.router, L.router, T, H, fused ? (input.size ? input : x) : xn,
                {ids, wts, {}, {}, gated ? shared_gate_.range(0, T * 4ull) : BufferRange{}, fused ? xn : BufferRange{}});
  const SharedExpertSlot slot{&L.shared_experts, gated ? shared_gate_.range(0, T * 4ull) : BufferRange{}};
  const bool post = L.ffn_post_norm.size > 0;  // grok: the output normed (in x_in) before the residual add
  const BufferRange out = post ? x_in_.range(0, T * H * 4ull) : x;
  record_moe_experts(ctx_, seq, L.experts,
                     {.tokens = T, .k = K, .x = xn, .ids = ids, .weights = wts, .out = out, .accumulate = !post,
                      .shared = L.shared_in_slot ? &slot : nullptr},
                     scratch_);
  if (L.grok_dense) record_grok_dense(seq, L, T, out);  // dense_ffn.cpp: into out, then the sum / sqrt(2)
  if (post) record_post_norm(seq, L.ffn_post_norm, out, T);
  if (L.shared && !L.shared_in_slot)
    record_shared_expert(ctx_, seq, L.shared_experts,
                         {.tokens = T, .x = xn,
                          .scale = gated ? std::optional<BufferRange>(shared_gate_.range(0, T * 4ull)) : std::nullopt,
                          .out = x, .accumulate = true},
                         scratch_);
}

std::vector<Model::KernelProfile> Model::profile_rows() const {
  std::vector<KernelProfile> rows;
  for (const auto& [name, k] : profile_) rows.push_back({name, k.calls, k.ms});
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.ms > b.ms; });
  return rows;
}

void Model::set_profile(bool on) {
  const bool want = on && ctx_.device().features().timestamps;
  if (want != opt_.profile) seq_.reset();  // the next forward call records with or without timestamps
  opt_.profile = want;
  profile_.clear();
  profile_wall_ms_ = 0;
}

std::string Model::profile_report() const {
  if (profile_.empty()) return "";
  std::vector<std::pair<std::string, KernelTime>> rows(profile_.begin(), profile_.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.ms > b.second.ms; });
  double total = 0;
  for (const auto& r : rows) total += r.second.ms;
  std::string out = "GPU time per kernel (timestamps; submit-to-fence wall time " + std::to_string(profile_wall_ms_) + " ms):\n";
  char buf[160];
  for (const auto& [name, k] : rows) {
    std::snprintf(buf, sizeof buf, "  %-28s %8llu calls %10.3f ms %5.1f%%\n", name.c_str(), static_cast<unsigned long long>(k.calls),
                  k.ms, total > 0 ? 100.0 * k.ms / total : 0.0);
    out += buf;
  }
  std::snprintf(buf, sizeof buf, "  %-28s %25.3f ms\n", "total", total);
  return out + buf;
}

}  // namespace vkmoe
