// DeepSeek-V2/V3 on the GPU: multi-head latent attention. The dense leading layers run
// dense_ffn.cpp; the MoE layers go through Model::record_ffn_block (router with groups, selection
// bias and scale; routed plus shared experts).
//
// MLA runs decompressed, as MHA: kv_b turns the normed latent into per-head k_nope and v, and
// the cache holds per-head keys [k_nope, k_pe] (Dk = nope + rope) and values (Dv). That keeps
// the head widths within the attention kernel's limit (the absorbed form attends over the
// 512 + 64-wide latent) at the price of a larger cache.
#include "runtime/model/deepseek2.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "runtime/model/model_layer.h"
#include "runtime/model/rope_scaling.h"
#include "runtime/quant/half.h"
#include "runtime/quant/quant.h"
#include "runtime/vk/context.h"
#include "runtime/vk/sequence.h"

namespace vkmoe {

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

}  // namespace

std::vector<float> assemble_kv_b(const GgufFile& f, const ModelConfig& c, uint32_t layer) {
  const std::string b = "blk." + std::to_string(layer) + ".";
  const uint64_t NH = c.n_head, nope = c.qk_nope_dim, Dv = c.v_head_dim, kvl = c.kv_lora_rank;
  // Dequantized [rows][cols] of a 3-D tensor of ne = [cols, rows_per_head, NH].
  auto load = [&](const std::string& name, uint64_t cols, uint64_t rows) {
    const GgufTensorInfo* t = f.find_tensor(b + name);
    if (!t) throw std::runtime_error(f.name() + ": neither '" + b + "attn_kv_b.weight' nor '" + b + name + "' is present");
    if (!same_shape(t->shape, std::vector<uint64_t>{cols, rows, NH}))
      throw std::runtime_error(f.name() + ": tensor '" + b + name + "' is not [" + std::to_string(cols) + ", " +
                               std::to_string(rows) + ", " + std::to_string(NH) + "]");
    std::vector<float> w(cols * rows * NH);
    auto data = f.tensor_data(*t);
    const uint64_t row_bytes = ggml_row_bytes(t->type, cols);
    for (uint64_t r = 0; r < rows * NH; ++r) dequantize_row(t->type, data.data() + r * row_bytes, w.data() + r * cols, cols);
    return w;
  };
  const std::vector<float> kb = load("attn_k_b.weight", nope, kvl), vb = load("attn_v_b.weight", kvl, Dv);
  std::vector<float> kv(NH * (nope + Dv) * kvl);
  for (uint64_t h = 0; h < NH; ++h) {
    float* head = kv.data() + h * (nope + Dv) * kvl;
    for (uint64_t i = 0; i < nope; ++i)
      for (uint64_t j = 0; j < kvl; ++j) head[i * kvl + j] = kb[(h * kvl + j) * nope + i];
    std::copy_n(vb.data() + h * Dv * kvl, Dv * kvl, head + nope * kvl);
  }
  return kv;
}

void Model::bind_deepseek2_layer(Layer& L, uint32_t l) {
  const std::string b = "blk." + std::to_string(l) + ".";
  [[maybe_unused]] const auto [NH, NKV, Dk, Dv] = cfg_.attention_shape();
  const uint32_t H = cfg_.n_embd, nope = cfg_.qk_nope_dim, rope = cfg_.qk_rope_dim, kvl = cfg_.kv_lora_rank,
                 ql = cfg_.q_lora_rank;
  auto matrix = [&](const std::string& name, uint32_t rows, uint32_t cols) { return dense_weight(b + name, rows, cols); };
  auto norm = [&](const std::string& name, uint32_t n) {
    BufferRange r = vector_weight(b + name, n);
    if (!r.size) throw std::runtime_error(file_.name() + ": missing tensor '" + b + name + "'");
    return r;
  };
  const bool fused = weights_.find(b + "attn_q_kv_a.weight") != nullptr;  // [q or q latent | kv_a]
  if (ql) {
    if (!fused) L.wq_a = matrix("attn_q_a.weight", ql, H);
    L.q_a_norm = norm("attn_q_a_norm.weight", ql);
    L.wq_b = matrix("attn_q_b.weight", NH * Dk, ql);
  } else if (!fused) {
    L.wq = matrix("attn_q.weight", NH * Dk, H);
  }
  if (fused) L.wq_kv_a = matrix("attn_q_kv_a.weight", (ql ? ql : NH * Dk) + kvl + rope, H);
  else L.wkv_a = matrix("attn_kv_a_mqa.weight", kvl + rope, H);
  L.kv_a_norm = norm("attn_kv_a_norm.weight", kvl);
  // attn_k_b / attn_v_b are kv_b's weights split in two: read from the file below, or the same
  // weights again where a file has both.
  weights_.mark_used(b + "attn_k_b.weight");
  weights_.mark_used(b + "attn_v_b.weight");
  if (weights_.find(b + "attn_kv_b.weight")) {
    L.wkv_b = matrix("attn_kv_b.weight", NH * (nope + Dv), kvl);
  } else {
    // Only attn_k_b / attn_v_b: rebuild kv_b once, F32 if they are F32, else F16.
    const std::vector<float> kv = assemble_kv_b(file_, cfg_, l);
    const bool f32 = weights_.get(b + "attn_k_b.weight").type == GgmlType::F32 &&
                     weights_.get(b + "attn_v_b.weight").type == GgmlType::F32;
    std::vector<uint16_t> halves;
    if (!f32) {
      halves.resize(kv.size());
      for (size_t i = 0; i < kv.size(); ++i) halves[i] = f32_to_f16(kv[i]);
    }
    const uint64_t bytes = f32 ? kv.size() * 4 : (kv.size() * 2 + 3) / 4 * 4;
    Buffer buf = allocate(bytes, MemoryUse::device, b + "attn_kv_b (rebuilt)", MemoryCategory::weights);
    ctx_.transfer().upload(buf, 0, f32 ? static_cast<const void*>(kv.data()) : halves.data(), kv.size() * (f32 ? 4 : 2));
    L.wkv_b = make_dense_weight(ctx_.device(), buf, 0, f32 ? GgmlType::F32 : GgmlType::F16, NH * (nope + Dv), kvl);
    rebuilt_.push_back(std::move(buf));
  }
  if (L.wo.rows != H || L.wo.cols != NH * Dv)
    throw std::runtime_error(file_.name() + ": " + b + "attn_output.weight maps " + std::to_string(L.wo.cols) + " -> " +
                             std::to_string(L.wo.rows) + ", expected " + std::to_string(NH * Dv) + " -> " + std::to_string(H));
}

// q (direct, or through the normed q latent) and kv_a = [latent, k_pe], in one matvec when
// fused at load, with the attention norm folded in; normed latent -> per-head [k_nope, v] (each
// latent norm folded into its matvec); RoPE of q and k_pe with the cache store in one kernel;
// attention; output projection added into the residual.
void Model::record_mla_attention_block(Sequence& seq, const Layer& L, uint32_t l, const Pass& pass) {
  [[maybe_unused]] const auto [NH, NKV, Dk, Dv] = cfg_.attention_shape();
  const uint32_t H = cfg_.n_embd, T = pass.tokens;
  const uint32_t nope = cfg_.qk_nope_dim, rope = cfg_.qk_rope_dim, kvl = cfg_.kv_lora_rank, ql = cfg_.q_lora_rank;
  const float eps = cfg_.norm_eps;
  const BufferRange x = x_.range(0, T * H * 4ull);
  // q and kv rows pass.q_stride / pass.kv_stride apart: packed, or one aligned row per session.
  const BufferRange q = q_.range(0, T * pass.q_stride * 4ull), kv = kv_b_.range(0, T * pass.kv_stride * 4ull);
  const MatmulOptions normed{.norm = NormPrologue{L.attn_norm, eps}};  // the attention norm, fused
  // a: [q or q latent (qa) | kv latent (kvl) | k_pe (rope)] rows, one range or two.
  const uint32_t qa = ql ? ql : NH * Dk;
  BufferRange qa_in, kv_a;
  uint32_t qa_stride = qa, kv_stride = kvl + rope, kv_off = 0;
  if (L.wq_kv_a.rows) {
    qa_in = kv_a = qkv_.range(0, T * (qa + kvl + rope) * 4ull);
    record_matmul(ctx_, seq, L.wq_kv_a, T, x, kv_a, normed);
    qa_stride = kv_stride = qa + kvl + rope;
    kv_off = qa;
  } else {
    qa_in = ql ? lora_.range(0, T * ql * 4ull) : q;
    kv_a = kv_a_.range(0, T * (kvl + rope) * 4ull);
    if (!ql) qa_stride = pass.q_stride;
    MatmulOptions to_q = normed;
    to_q.y_stride = qa_stride;
    record_matmul(ctx_, seq, ql ? L.wq_a : L.wq, T, x, qa_in, to_q);
    record_matmul(ctx_, seq, L.wkv_a, T, x, kv_a, normed);
  }
  uint32_t q_stride = qa_stride;
  if (ql) {  // q = q_b(norm(q latent)); the q latent starts its rows
    record_matmul(ctx_, seq, L.wq_b, T, qa_in, q,
                  {.x_stride = qa_stride, .y_stride = pass.q_stride, .norm = NormPrologue{L.q_a_norm, eps}});
    qa_in = q;
    q_stride = pass.q_stride;
  }
  // kv = kv_b(norm(kv latent)): the norm folded in when the latent's offset can be bound.
  const BufferRange kv_lat_in{kv_a.buffer, kv_a.offset + kv_off * 4ull, kv_a.size - kv_off * 4ull};
  if (kv_lat_in.offset % std::max<uint64_t>(4, ctx_.device().caps().storage_buffer_alignment) == 0) {
    record_matmul(ctx_, seq, L.wkv_b, T, kv_lat_in, kv,
                  {.x_stride = kv_stride, .y_stride = pass.kv_stride, .norm = NormPrologue{L.kv_a_norm, eps}});
  } else {
    const BufferRange kv_lat = lora_.range(0, T * kvl * 4ull);
    record_rms_norm(ctx_, seq, {.tokens = T, .n = kvl, .x_stride = kv_stride, .y_stride = kvl, .eps = eps, .x_offset = kv_off},
                    kv_a, L.kv_a_norm, kv_lat);
    record_matmul(ctx_, seq, L.wkv_b, T, kv_lat, kv, {.y_stride = pass.kv_stride});
  }
  // Each session's rows: RoPE and the store into its own cache, attention over that cache.
  const bool q_in_q = qa_in.buffer == q.buffer;  // q read in place (packed per part), else from the fused row
  for (size_t i = 0; i < pass.parts.size(); ++i) {
    const Part& p = pass.parts[i];
    const KvCacheLayer& cache = p.session->kv_[l];
    const BufferRange q_out = q_.range(p.first * pass.q_stride * 4ull, p.tokens * NH * Dk * 4ull);
    const BufferRange o = attn_.range(p.first * pass.o_stride * 4ull, p.tokens * NH * Dv * 4ull);
    const BufferRange kv_p = kv_b_.range(p.first * pass.kv_stride * 4ull, p.tokens * NH * (nope + Dv) * 4ull);
    const MlaKvShape shape{.tokens = p.tokens, .nope = nope, .pe_stride = kv_stride,
                           .pe_offset = kv_off + kvl + p.first * kv_stride};
    record_mla_rope_kv_store(ctx_, seq, cache, shape, mla_rope(cfg_, Dk), kv_p, kv_a, part_positions(pass, i),
                             q_in_q ? q_out : qa_in, q_stride, q_in_q ? 0 : p.first * q_stride, q_out);
    record_attention(ctx_, seq, cache, {.tokens = p.tokens, .pos = p.pos, .heads = NH, .scale = mla_scale(cfg_),
                                                .scratch = part_attn_scratch(i)}, q_out, o);
  }
  record_matmul(ctx_, seq, L.wo, T, attn_.range(0, T * pass.o_stride * 4ull), x,
                {.x_stride = pass.o_stride, .accumulate = true});
}

}  // namespace vkmoe
