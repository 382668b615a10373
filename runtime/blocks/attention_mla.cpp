// q (direct, or through the normed q latent) and kv_a = [latent, k_pe], in one matvec when fused
// at load, with the attention norm folded in; normed latent -> per-head [k_nope, v] (each latent
// norm folded into its matvec); RoPE of q and k_pe with the cache store in one kernel; attention;
// output projection added into the residual.
#include "runtime/blocks/attention_mla.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "runtime/kernels/transformer_ops.h"
#include "runtime/model/deepseek2.h"
#include "runtime/model/model_config.h"
#include "runtime/model/rope_scaling.h"
#include "runtime/model/session.h"
#include "runtime/model/weights.h"
#include "runtime/quant/half.h"
#include "runtime/vk/context.h"
#include "runtime/vk/sequence.h"

namespace vkmoe::blocks::attention_mla {

namespace {

// The RoPE of DeepSeek's q_pe / k_pe: normal layout on the last `rope` dims of a head of
// `head_dim`. Under YaRN, llama.cpp cancels the rotation's magnitude correction and moves it into
// the attention scale instead (runtime/model/rope_scaling.h).
RopeConfig mla_rope(const ModelConfig& c, uint32_t head_dim) {
  RopeConfig r{.head_dim = head_dim, .n_rot = c.qk_rope_dim, .rot_offset = head_dim - c.qk_rope_dim, .neox = false,
               .freq_base = c.rope_freq_base, .freq_scale = c.rope_freq_scale};
  if (c.rope_yarn) {
    r.ext_factor = c.rope_yarn_ext_factor;
    r.beta_fast = c.rope_yarn_beta_fast, r.beta_slow = c.rope_yarn_beta_slow;
    r.n_ctx_orig = c.rope_yarn_orig_ctx;
  }
  r.attn_factor = static_cast<float>(rope_attn_factor(c, true));
  return r;
}

// 1/sqrt(Dk), times YaRN's mscale^2.
float mla_scale(const ModelConfig& c) {
  return static_cast<float>(mla_logit_scale(c) / std::sqrt(static_cast<double>(c.attention_shape().head_dim_k)));
}

// attn_k_b / attn_v_b are kv_b's weights split in two: read from the file, or the same weights
// again where a file has both. Only attn_k_b / attn_v_b: kv_b rebuilt once, F32 if they are F32,
// else F16.
DenseWeight bind_kv_b(Weights& w, uint32_t l) {
  const ModelConfig& c = w.config();
  const std::string b = "blk." + std::to_string(l) + ".";
  const uint32_t rows = c.n_head * (c.qk_nope_dim + c.attention_shape().head_dim_v), kvl = c.kv_lora_rank;
  w.mark_used(b + "attn_k_b.weight");
  w.mark_used(b + "attn_v_b.weight");
  if (w.find(b + "attn_kv_b.weight")) return w.dense(b + "attn_kv_b.weight", rows, kvl);
  const std::vector<float> kv = assemble_kv_b(w.file(), c, l);
  const bool f32 = w.get(b + "attn_k_b.weight").type == GgmlType::F32 && w.get(b + "attn_v_b.weight").type == GgmlType::F32;
  std::vector<uint16_t> halves;
  if (!f32) {
    halves.resize(kv.size());
    for (size_t i = 0; i < kv.size(); ++i) halves[i] = f32_to_f16(kv[i]);
  }
  const Buffer& buf = w.upload_rebuilt(b + "attn_kv_b (rebuilt)", f32 ? static_cast<const void*>(kv.data()) : halves.data(),
                                       kv.size() * (f32 ? 4 : 2));
  return make_dense_weight(w.device(), buf, 0, f32 ? GgmlType::F32 : GgmlType::F16, rows, kvl);
}

// [q_a_norm | zeros to a multiple of 4 | kv_a_norm] rebuilt as one F32 buffer (each its own
// tensor in the file): the matvec pair reads both through one binding, kv's at a vec4 boundary.
void bind_latent_norms(Weights& w, uint32_t l, AttentionMlaLayer& a) {
  const ModelConfig& c = w.config();
  const std::string b = "blk." + std::to_string(l) + ".";
  a.latent_norm_kv = (c.q_lora_rank + 3) / 4 * 4;
  std::vector<float> v(a.latent_norm_kv + c.kv_lora_rank, 0.0f);
  const auto copy = [&](const std::string& name, uint32_t n, uint32_t at) {
    const auto d = w.file().tensor_data(*w.file().find_tensor(b + name));  // F32 [n]: checked by need()
    std::memcpy(v.data() + at, d.data(), n * sizeof(float));
  };
  copy("attn_q_a_norm.weight", c.q_lora_rank, 0);
  copy("attn_kv_a_norm.weight", c.kv_lora_rank, a.latent_norm_kv);
  const Buffer& buf = w.upload_rebuilt(b + "attn_q_a_norm | attn_kv_a_norm", v.data(), v.size() * sizeof(float));
  a.latent_norms = buf.range(0, v.size() * sizeof(float));
}

}  // namespace

AttentionMlaLayer bind(Weights& w, uint32_t l) {
  const ModelConfig& c = w.config();
  const std::string b = "blk." + std::to_string(l) + ".";
  [[maybe_unused]] const auto [NH, NKV, Dk, Dv] = c.attention_shape();
  const uint32_t H = c.n_embd, rope = c.qk_rope_dim, kvl = c.kv_lora_rank, ql = c.q_lora_rank;
  auto matrix = [&](const std::string& name, uint32_t rows, uint32_t cols) { return w.dense(b + name, rows, cols); };
  AttentionMlaLayer a;
  a.wo = w.dense_shaped(b + "attn_output.weight", NH * Dv, H);
  const bool fused = w.find(b + "attn_q_kv_a.weight") != nullptr;  // [q or q latent | kv_a]
  if (ql) {
    if (!fused) a.wq_a = matrix("attn_q_a.weight", ql, H);
    a.q_a_norm = w.need(b + "attn_q_a_norm.weight", ql);
    a.wq_b = matrix("attn_q_b.weight", NH * Dk, ql);
  } else if (!fused) {
    a.wq = matrix("attn_q.weight", NH * Dk, H);
  }
  if (fused) a.wq_kv_a = matrix("attn_q_kv_a.weight", (ql ? ql : NH * Dk) + kvl + rope, H);
  else a.wkv_a = matrix("attn_kv_a_mqa.weight", kvl + rope, H);
  a.kv_a_norm = w.need(b + "attn_kv_a_norm.weight", kvl);
  if (ql) bind_latent_norms(w, l, a);
  a.wkv_b = bind_kv_b(w, l);
  return a;
}

std::vector<BlockBuffer> activation_bytes(const ModelConfig& c, const BatchShape& b) {
  const ModelConfig::AttentionShape at = c.attention_shape();
  const uint64_t B = b.tokens, qw = uint64_t(at.n_head) * at.head_dim_k;
  return {{&ActivationLayout::q, {"q", b.rows(qw * 4)}},
          {&ActivationLayout::qkv, {"q|k|v projections", B * 4 * (std::max<uint64_t>(qw, c.q_lora_rank) + c.kv_lora_rank + c.qk_rope_dim)}},
          {&ActivationLayout::attn, {"attention out", b.rows(uint64_t(at.n_head) * at.head_dim_v * 4)}},
          {&ActivationLayout::mla_latent, {"mla latent", B * std::max(c.q_lora_rank, c.kv_lora_rank) * 4}},
          {&ActivationLayout::mla_kv_a, {"mla kv_a", B * (c.kv_lora_rank + c.qk_rope_dim) * 4}},
          {&ActivationLayout::mla_kv, {"mla kv", b.rows(uint64_t(at.n_head) * (c.qk_nope_dim + at.head_dim_v) * 4)}}};
}

void record(const BlockRun& r, const AttentionMlaLayer& L, const NormLayer& n) {
  const ModelConfig& cfg = r.cfg;
  const Pass& pass = r.pass;
  [[maybe_unused]] const auto [NH, NKV, Dk, Dv] = cfg.attention_shape();
  const uint32_t T = pass.tokens;
  const uint32_t nope = cfg.qk_nope_dim, rope = cfg.qk_rope_dim, kvl = cfg.kv_lora_rank, ql = cfg.q_lora_rank;
  const float eps = cfg.norm_eps;
  const BufferRange x = r.x();
  // q and kv rows pass.q_stride / pass.kv_stride apart: packed, or one aligned row per session.
  const BufferRange q = r.act.q.range(0, T * pass.q_stride * 4ull), kv = r.act.mla_kv.range(0, T * pass.kv_stride * 4ull);
  const MatmulOptions normed{.norm = NormPrologue{n.attn_norm, eps}};  // the attention norm, fused
  // a: [q or q latent (qa) | kv latent (kvl) | k_pe (rope)] rows, one range or two.
  const uint32_t qa = ql ? ql : NH * Dk;
  BufferRange qa_in, kv_a;
  uint32_t qa_stride = qa, kv_stride = kvl + rope, kv_off = 0;
  if (L.wq_kv_a.rows) {
    qa_in = kv_a = r.act.qkv.range(0, T * (qa + kvl + rope) * 4ull);
    record_matmul(r.ctx, r.seq, L.wq_kv_a, T, x, kv_a, normed);
    qa_stride = kv_stride = qa + kvl + rope;
    kv_off = qa;
  } else {
    qa_in = ql ? r.act.mla_latent.range(0, T * ql * 4ull) : q;
    kv_a = r.act.mla_kv_a.range(0, T * (kvl + rope) * 4ull);
    if (!ql) qa_stride = pass.q_stride;
    MatmulOptions to_q = normed;
    to_q.y_stride = qa_stride;
    record_matmul(r.ctx, r.seq, ql ? L.wq_a : L.wq, T, x, qa_in, to_q);
    record_matmul(r.ctx, r.seq, L.wkv_a, T, x, kv_a, normed);
  }
  uint32_t q_stride = qa_stride;
  const BufferRange kv_lat_in{kv_a.buffer, kv_a.offset + kv_off * 4ull, kv_a.size - kv_off * 4ull};
  bool kv_done = false;
  if (ql) {  // q = q_b(norm(q latent)); the q latent starts its rows
    const BufferRange& n2 = L.latent_norms;
    const uint64_t kv_n = L.latent_norm_kv * 4ull;
    // Decode: q_b and kv_b as one dispatch where they can share it (fused a rows, one weight type).
    kv_done = record_matvec_pair(
        r.ctx, r.seq, T,
        {&L.wq_b, qa_in, q, qa_stride, pass.q_stride, NormPrologue{{n2.buffer, n2.offset, ql * 4ull}, eps}},
        {&L.wkv_b, kv_lat_in, kv, kv_stride, pass.kv_stride, NormPrologue{{n2.buffer, n2.offset + kv_n, kvl * 4ull}, eps}});
    if (!kv_done)
      record_matmul(r.ctx, r.seq, L.wq_b, T, qa_in, q,
                    {.x_stride = qa_stride, .y_stride = pass.q_stride, .norm = NormPrologue{L.q_a_norm, eps}});
    qa_in = q;
    q_stride = pass.q_stride;
  }
  // kv = kv_b(norm(kv latent)): the norm folded in when the latent's offset can be bound.
  const uint64_t align = std::max<uint64_t>(4, r.ctx.device().caps().storage_buffer_alignment);
  if (kv_done) {
    // both in the pair
  } else if (kv_lat_in.offset % align == 0) {
    record_matmul(r.ctx, r.seq, L.wkv_b, T, kv_lat_in, kv,
                  {.x_stride = kv_stride, .y_stride = pass.kv_stride, .norm = NormPrologue{L.kv_a_norm, eps}});
  } else {
    const BufferRange kv_lat = r.act.mla_latent.range(0, T * kvl * 4ull);
    record_rms_norm(r.ctx, r.seq, {.tokens = T, .n = kvl, .x_stride = kv_stride, .y_stride = kvl, .eps = eps, .x_offset = kv_off},
                    kv_a, L.kv_a_norm, kv_lat);
    record_matmul(r.ctx, r.seq, L.wkv_b, T, kv_lat, kv, {.y_stride = pass.kv_stride});
  }
  // Each session's rows: RoPE and the store into its own cache, attention over that cache.
  const bool q_in_q = qa_in.buffer == q.buffer;  // q read in place (packed per part), else from the fused row
  for (size_t i = 0; i < pass.parts.size(); ++i) {
    const PassPart& p = pass.parts[i];
    const KvCacheLayer& cache = p.session->kv(r.layer);
    const BufferRange q_out = r.act.q.range(p.first * pass.q_stride * 4ull, p.tokens * NH * Dk * 4ull);
    const BufferRange o = r.act.attn.range(p.first * pass.o_stride * 4ull, p.tokens * NH * Dv * 4ull);
    const BufferRange kv_p = r.act.mla_kv.range(p.first * pass.kv_stride * 4ull, p.tokens * NH * (nope + Dv) * 4ull);
    const MlaKvShape shape{.tokens = p.tokens, .nope = nope, .pe_stride = kv_stride, .pe_offset = kv_off + kvl + p.first * kv_stride};
    record_mla_rope_kv_store(r.ctx, r.seq, cache, shape, mla_rope(cfg, Dk), kv_p, kv_a, r.positions(i), q_in_q ? q_out : qa_in,
                             q_stride, q_in_q ? 0 : p.first * q_stride, q_out);
    record_attention(r.ctx, r.seq, cache, {.tokens = p.tokens, .pos = p.pos, .heads = NH, .scale = mla_scale(cfg),
                                                    .scratch = r.attn_scratch(i)}, q_out, o);
  }
  record_matmul(r.ctx, r.seq, L.wo, T, r.act.attn.range(0, T * pass.o_stride * 4ull), x,
                {.x_stride = pass.o_stride, .accumulate = true});
}

}  // namespace vkmoe::blocks::attention_mla
