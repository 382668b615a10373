#include "runtime/blocks/attention_gqa.h"

#include <stdexcept>

#include "runtime/kernels/transformer_ops.h"
#include "runtime/model/model_config.h"
#include "runtime/model/rope_scaling.h"
#include "runtime/model/session.h"
#include "runtime/model/weights.h"
#include "runtime/vk/context.h"
#include "runtime/vk/sequence.h"

namespace vkmoe::blocks::attention_gqa {

namespace {

// The biases and QK-norm weights, concatenated at load ([q | k | v], [q_norm | k_norm]) for the
// fused rope_kv_store kernel. A file with only some of them, or not in F32, gets an error
// naming the tensor.
void bind_vectors(Weights& w, uint32_t l, AttentionGqaLayer& a) {
  const ModelConfig& c = w.config();
  const std::string b = "blk." + std::to_string(l) + ".";
  const auto [NH, NKV, Dk, Dv] = c.attention_shape();
  auto all_or_none = [&](const std::string& fused, uint64_t n, const std::vector<std::pair<std::string, uint64_t>>& parts) {
    if (w.find(b + fused)) {
      for (const auto& [name, len] : parts)
        if (const GgufTensorInfo* t = w.file().find_tensor(b + name); t && t->elements() != len)
          throw std::runtime_error(w.name() + ": tensor '" + b + name + "' has " + std::to_string(t->elements()) +
                                   " elements, expected " + std::to_string(len));
      return w.vector(b + fused, n);
    }
    bool any = false;
    for (const auto& [name, len] : parts) any |= w.vector(b + name, len).size > 0;  // throws when not F32 [len]
    if (any) throw std::runtime_error(w.name() + ": '" + b + parts[0].first + "' and the tensors with it must all be present");
    return BufferRange{};
  };
  a.bqkv = all_or_none("attn_qkv.bias", uint64_t(NH) * Dk + NKV * (Dk + Dv),
                       {{"attn_q.bias", NH * Dk}, {"attn_k.bias", NKV * Dk}, {"attn_v.bias", NKV * Dv}});
  const uint32_t qn = c.qk_norm_full ? NH * Dk : Dk, kn = c.qk_norm_full ? NKV * Dk : Dk;
  if (c.qk_norm_per_head || c.qk_norm_full) {
    a.qk_norm = all_or_none("attn_qk_norm.weight", qn + kn, {{"attn_q_norm.weight", qn}, {"attn_k_norm.weight", kn}});
    if (!a.qk_norm.size) throw std::runtime_error(w.name() + ": missing tensor '" + b + "attn_q_norm.weight'");
  }
}

}  // namespace

AttentionGqaLayer bind(Weights& w, uint32_t l) {
  const ModelConfig& c = w.config();
  const std::string b = "blk." + std::to_string(l) + ".";
  const auto [NH, NKV, Dk, Dv] = c.attention_shape();
  const uint32_t H = c.n_embd;
  AttentionGqaLayer a;
  a.wo = w.dense_shaped(b + "attn_output.weight", NH * Dv, H);
  if (w.find(b + "attn_qkv.weight")) {  // each part checked by name, as the file has it
    for (const auto& [part, rows] : {std::pair{"attn_q", NH * Dk}, {"attn_k", NKV * Dk}, {"attn_v", NKV * Dv}})
      if (const GgufTensorInfo* t = w.file().find_tensor(b + part + ".weight")) w.check_shape(b + part + ".weight", t->shape, {H, rows});
    a.wqkv = w.dense_shaped(b + "attn_qkv.weight", H, NH * Dk + NKV * (Dk + Dv));
  } else {
    a.wq = w.dense_shaped(b + "attn_q.weight", H, NH * Dk);
    a.wk = w.dense_shaped(b + "attn_k.weight", H, NKV * Dk);
    a.wv = w.dense_shaped(b + "attn_v.weight", H, NKV * Dv);
  }
  bind_vectors(w, l, a);
  if (c.attn_out_bias) a.bo = w.need(b + "attn_output.bias", H);
  if (c.layers[l].sinks) a.sinks = w.need(b + "attn_sinks.weight", c.n_head);
  a.freq_factors = w.rope_freqs();
  return a;
}

std::vector<BlockBuffer> activation_bytes(const ModelConfig& c, const BatchShape& b) {
  const ModelConfig::AttentionShape at = c.attention_shape();
  const uint64_t B = b.tokens, qw = uint64_t(at.n_head) * at.head_dim_k, kw = uint64_t(at.n_head_kv) * at.head_dim_k,
                 vw = uint64_t(at.n_head_kv) * at.head_dim_v;
  return {{&ActivationLayout::q, {"q", b.rows(qw * 4)}},
          {&ActivationLayout::qkv, {"q|k|v projections", B * 4 * (qw + kw + vw)}},
          {&ActivationLayout::k, {"k", B * kw * 4}},
          {&ActivationLayout::v, {"v", B * vw * 4}},
          {&ActivationLayout::attn, {"attention out", b.rows(uint64_t(at.n_head) * at.head_dim_v * 4)}}};
}

namespace {

RopeConfig layer_rope(const ModelConfig& c, const LayerSpec& spec) {
  const ModelConfig::AttentionShape a = c.attention_shape();
  RopeConfig rope{.head_dim = a.head_dim_k, .n_rot = c.n_rot, .neox = c.rope_layout == RopeLayout::neox,
                  .freq_base = c.rope_freq_base, .freq_scale = c.rope_freq_scale};
  if (c.rope_yarn) {
    rope.ext_factor = c.rope_yarn_ext_factor;
    rope.n_ctx_orig = c.rope_yarn_orig_ctx;
    rope.beta_fast = c.rope_yarn_beta_fast, rope.beta_slow = c.rope_yarn_beta_slow;
  }
  rope.attn_factor = static_cast<float>(rope_attn_factor(c, false));
  if (!spec.rope) rope.n_rot = 0, rope.ext_factor = 0.0f;  // llama4's NoPE layers
  return rope;
}

}  // namespace

void record(const BlockRun& r, const AttentionGqaLayer& L, const NormLayer& n) {
  const ModelConfig& cfg = r.cfg;
  const Pass& pass = r.pass;
  const auto [NH, NKV, Dk, Dv] = cfg.attention_shape();
  const uint32_t H = cfg.n_embd, qw = NH * Dk, kw = NKV * Dk, vw = NKV * Dv, row = qw + kw + vw, T = pass.tokens;
  const BufferRange x = r.x();
  // The attention norm (RMSNorm, LayerNorm, with a bias or not), fused into the projections.
  const BufferRange in = x;
  const MatmulOptions normed{.norm = norm::prologue(cfg, n.attn_norm, n.attn_norm_b)};
  RopeKvShape s{.tokens = T, .heads = NH, .eps = cfg.norm_eps, .clamp = cfg.clamp_kqv};
  s.norm = cfg.qk_norm_per_head ? QkNorm::per_head : cfg.qk_norm_full ? QkNorm::full : QkNorm::none;
  s.norm_after_rope = cfg.qk_norm_after_rope;
  BufferRange qi, ki, vi;
  if (L.wqkv.rows) {  // one [T, q | k | v] matvec; the kernel reads each part at its offset
    qi = ki = vi = r.act.qkv.range(0, T * row * 4ull);
    record_matmul(r.ctx, r.seq, L.wqkv, T, in, qi, normed);
    s.q_stride = s.k_stride = s.v_stride = row;
    s.k_offset = qw;
    s.v_offset = qw + kw;
  } else {  // the three differ in type
    qi = r.act.qkv.range(0, T * qw * 4ull), ki = r.act.k.range(0, T * kw * 4ull), vi = r.act.v.range(0, T * vw * 4ull);
    record_matmul(r.ctx, r.seq, L.wq, T, in, qi, normed);
    record_matmul(r.ctx, r.seq, L.wk, T, in, ki, normed);
    record_matmul(r.ctx, r.seq, L.wv, T, in, vi, normed);
  }
  const LayerSpec& spec = cfg.layers[r.layer];
  const RopeConfig rope = layer_rope(cfg, spec);
  if (spec.rope) s.freq_factors = L.freq_factors;
  if (spec.qk_l2_norm) s.norm = QkNorm::per_head, s.unit_norm = true;
  if (spec.attn_temp)
    s.temp_scale = cfg.attn_temp_scale, s.temp_offset = cfg.attn_temp_offset, s.temp_floor = cfg.attn_temp_floor;
  // Each session's rows: into its own cache at its positions, attention over that cache.
  for (size_t i = 0; i < pass.parts.size(); ++i) {
    const PassPart& p = pass.parts[i];
    const KvCacheLayer& kv = p.session->kv(r.layer);
    RopeKvShape sp = s;
    sp.tokens = p.tokens;
    sp.q_offset += p.first * (s.q_stride ? s.q_stride : qw);
    sp.k_offset += p.first * (s.k_stride ? s.k_stride : kw);
    sp.v_offset += p.first * (s.v_stride ? s.v_stride : vw);
    const BufferRange q = r.act.q.range(p.first * pass.q_stride * 4ull, p.tokens * qw * 4ull);
    const BufferRange o = r.act.attn.range(p.first * pass.o_stride * 4ull, p.tokens * NH * Dv * 4ull);
    record_rope_kv_store(r.ctx, r.seq, kv, rope, sp, qi, ki, vi, r.positions(i), L.bqkv, L.qk_norm, q);
    record_attention(r.ctx, r.seq, kv,
                     {.tokens = p.tokens, .pos = p.pos, .heads = NH, .scale = cfg.attn_scale, .window = spec.window,
                      .sinks = L.sinks, .chunked = spec.chunked, .softcap = cfg.attn_softcap,
                      .scratch = r.attn_scratch(i)},
                     q, o);
  }
  const BufferRange attn = r.act.attn.range(0, T * pass.o_stride * 4ull);
  // The output bias and Granite's residual scale ride in the o matvec's store: (Wo a + bo) * r,
  // llama.cpp's order. Grok: the output (in x_in) is normed and added to x by the FFN's router
  // (norm::post_in_router), else by one rms_norm here.
  const bool post = n.attn_post_norm.size > 0;
  const BufferRange o = post ? r.act.x_in.range(0, uint64_t(T) * H * 4) : x;
  record_matmul(r.ctx, r.seq, L.wo, T, attn, o,
                {.x_stride = pass.o_stride, .accumulate = !post,
                 .scale = cfg.residual_scale != 0.0f ? cfg.residual_scale : 1.0f, .bias = L.bo});
  if (post && !norm::post_in_router(cfg, r.layer)) norm::record_post(r, n.attn_post_norm, o, T);
}

}  // namespace vkmoe::blocks::attention_gqa
