#include "runtime/model/engine.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "runtime/model/weights.h"
#include "runtime/vk/context.h"
#include "runtime/vk/sequence.h"

namespace vkmoe {

Engine::Engine(Context& ctx, const Weights& w, const ActivationLayout& lay, EngineOptions options, MemoryTally& tally)
    : ctx_(ctx), w_(w), cfg_(w.config()), lay_(lay), opt_(options) {
  // Every buffer comes from the plan's layout, byte for byte (activation_layout.h has the shapes).
  // The router outputs hold one aligned slice per layer, copied to routing for the sessions' statistics.
  using A = Activations;
  using L = ActivationLayout;
  constexpr MemoryUse dev = MemoryUse::device;
  const struct {
    Buffer A::*buffer;
    LayoutBuffer L::*layout;
    MemoryUse use;
  } places[] = {{&A::x, &L::x, dev},           {&A::xn, &L::xn, dev},
                {&A::q, &L::q, dev},           {&A::qkv, &L::qkv, dev},
                {&A::k, &L::k, dev},           {&A::v, &L::v, dev},
                {&A::attn, &L::attn, dev},     {&A::ids, &L::ids, dev},
                {&A::wts, &L::wts, dev},       {&A::routing, &L::routing, MemoryUse::readback},
                {&A::shared_gate, &L::shared_gate, dev}, {&A::logits, &L::logits, MemoryUse::readback},
                {&A::tokens, &L::tokens, MemoryUse::upload}, {&A::positions, &L::positions, MemoryUse::upload},
                {&A::mla_latent, &L::mla_latent, dev}, {&A::mla_kv_a, &L::mla_kv_a, dev},
                {&A::mla_kv, &L::mla_kv, dev}, {&A::ffn_gate, &L::ffn_gate, dev},
                {&A::ffn_up, &L::ffn_up, dev}, {&A::x_in, &L::x_in, dev},
                {&A::attn_split, &L::attn_split, dev}};
  for (const auto& p : places) act_.*p.buffer = tally.allocate(lay.*p.layout, p.use);
  // The device's crossover for this model's shape: a server's decode step of n slots takes the
  // batched path once n x k / experts passes it.
  act_.moe.settings.batched_from_tokens = default_batched_from_tokens(ctx.device(), cfg_.n_expert, cfg_.n_expert_used);
  act_.moe.h = tally.allocate(lay.moe_h);
  act_.moe.y = tally.allocate(lay.moe_y);
  act_.moe.route = tally.allocate(lay.moe_route);
}

Engine::~Engine() = default;

Pass Engine::make_pass(std::vector<PassPart> parts, LogitsMode mode) const {
  Pass p;
  p.mode = mode;
  for (const PassPart& part : parts) p.tokens += part.tokens;
  // Several sessions: each binds its own rows of q, the attention output and MLA's kv, and its
  // own position slot, so their rows start at binding-aligned offsets. One: packed, as always.
  const bool per_session = parts.size() > 1;
  auto stride = [&](uint64_t floats) { return static_cast<uint32_t>(per_session ? lay_.pad(floats * 4) / 4 : floats); };
  const ModelConfig::AttentionShape a = cfg_.attention_shape();
  p.q_stride = stride(uint64_t(a.n_head) * a.head_dim_k);
  p.o_stride = stride(uint64_t(a.n_head) * a.head_dim_v);
  p.kv_stride = stride(uint64_t(a.n_head) * (cfg_.qk_nope_dim + a.head_dim_v));
  p.pos_slot = per_session ? lay_.pad(4) : 0;
  p.parts = std::move(parts);
  return p;
}

std::vector<float> Engine::run_pass(const Pass& pass, std::span<const int32_t> tokens, bool want_logits) {
  const uint32_t T = pass.tokens;
  // Token ids and positions go through host-visible buffers; the pass reads them on the GPU.
  std::vector<uint32_t> ids(T), positions(pass.pos_slot ? pass.parts.size() * pass.pos_slot / 4 : T);
  for (uint32_t i = 0; i < T; ++i) ids[i] = static_cast<uint32_t>(tokens[i]);
  for (size_t i = 0; i < pass.parts.size(); ++i)
    for (uint32_t t = 0; t < pass.parts[i].tokens; ++t) positions[i * pass.pos_slot / 4 + t] = pass.parts[i].pos + t;
  ctx_.transfer().upload(act_.tokens, 0, ids.data(), T * 4ull);
  ctx_.transfer().upload(act_.positions, 0, positions.data(), positions.size() * 4ull);
  // One Sequence for the engine's life: its command buffer, fence and pools are reused.
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
  ctx_.transfer().download(act_.logits, 0, out.data(), out.size() * 4);
  check_finite(out, pass);
  return out;
}

void Engine::record_pass(Sequence& seq, const Pass& pass, uint32_t layers) {
  const uint32_t H = cfg_.n_embd, T = pass.tokens;
  record_get_rows(ctx_, seq, w_.head().embd, T, act_.tokens.range(0, T * 4ull), act_.x.range(0, T * H * 4ull), 0,
                  cfg_.embedding_scale != 0.0f ? cfg_.embedding_scale : 1.0f);  // Granite's and Grok's embedding scale
  for (uint32_t l = 0; l < std::min(cfg_.n_layer, layers); ++l) record_layer(seq, pass, l);
  if (layers < cfg_.n_layer) return;
  record_head(seq, pass);
  if (opt_.expert_stats && cfg_.n_expert) {  // the batch's routing, read back by collect_routing
    const uint64_t bytes = cfg_.n_layer * lay_.ids_slice(T);
    seq.copy(act_.ids.range(0, bytes), act_.routing.range(0, bytes));
    seq.copy(act_.wts.range(0, bytes), act_.routing.range(lay_.ids.bytes, bytes));
  }
}

// One layer: its blocks as its LayerSpec lists them (flags, never the architecture's name).
void Engine::record_layer(Sequence& seq, const Pass& pass, uint32_t l) {
  const LayerSpec& spec = cfg_.layers[l];
  const LayerWeights& L = w_.layer(l);
  const BlockRun r{ctx_, seq, cfg_, lay_, act_, pass, l};
  const bool moe = spec.ffn == FfnKind::moe;
  const bool par = moe && spec.parallel_dense;  // arctic: the MoE reads the layer's input, kept in x_in
  const BufferRange x_in = par ? act_.x_in.range(0, uint64_t(pass.tokens) * cfg_.n_embd * 4) : BufferRange{};
  if (par) seq.copy(r.x(), x_in);
  if (spec.attention == AttentionKind::mla) blocks::attention_mla::record(r, L.mla, L.norm);
  else blocks::attention_gqa::record(r, L.gqa, L.norm);
  if (!moe || par) blocks::ffn_dense::record(r, L.dense, L.norm);
  if (moe) blocks::ffn_moe::record(r, L.moe, L.norm, x_in, spec.grok_dense ? &L.dense : nullptr);
}

// Output norm and head: every row, or only the last one; the norm folded into the head's matmul
// when the row's offset meets the binding alignment (always at decode), else read at its float
// offset by rms_norm; the head's bias and softcap in its store.
void Engine::record_head(Sequence& seq, const Pass& pass) {
  const uint32_t H = cfg_.n_embd, T = pass.tokens;
  const HeadWeights& head = w_.head();
  const BlockRun r{ctx_, seq, cfg_, lay_, act_, pass, cfg_.n_layer};
  const uint32_t rows = pass.mode == LogitsMode::all ? T : 1;
  const BufferRange logits = act_.logits.range(0, rows * 4ull * cfg_.n_vocab);
  const uint64_t first = (T - rows) * H * 4ull;
  MatmulOptions o = blocks::norm::head_extras(cfg_, head);  // bias and softcap at the store
  if (first % std::max<uint64_t>(4, ctx_.device().caps().storage_buffer_alignment) == 0) {
    o.norm = blocks::norm::prologue(cfg_, head.norm, head.norm_b);
    record_matmul(ctx_, seq, head.output, rows, act_.x.range(first, rows * H * 4ull), logits, o);
  } else {
    record_matmul(ctx_, seq, head.output, rows, blocks::norm::record(r, head.norm, head.norm_b, rows, T - rows), logits, o);
  }
}

std::vector<KernelProfile> Engine::profile_rows() const {
  std::vector<KernelProfile> rows;
  for (const auto& [name, k] : profile_) rows.push_back({name, k.calls, k.ms});
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.ms > b.ms; });
  return rows;
}

void Engine::clear_profile() {
  profile_.clear();
  profile_wall_ms_ = 0;
}

void Engine::set_profile(bool on) {
  if (on != opt_.profile) seq_.reset();  // the next pass records with or without timestamps
  opt_.profile = on;
  clear_profile();
}

std::string Engine::profile_report() const {
  if (profile_.empty()) return "";
  const std::vector<KernelProfile> rows = profile_rows();  // largest first
  double total = 0;
  for (const auto& r : rows) total += r.ms;
  std::string out = "GPU time per kernel (timestamps; submit-to-fence wall time " + std::to_string(profile_wall_ms_) + " ms):\n";
  char buf[160];
  for (const KernelProfile& k : rows) {
    std::snprintf(buf, sizeof buf, "  %-28s %8llu calls %10.3f ms %5.1f%%\n", k.kernel.c_str(), static_cast<unsigned long long>(k.calls),
                  k.ms, total > 0 ? 100.0 * k.ms / total : 0.0);
    out += buf;
  }
  std::snprintf(buf, sizeof buf, "  %-28s %25.3f ms\n", "total", total);
  return out + buf;
}

}  // namespace vkmoe
