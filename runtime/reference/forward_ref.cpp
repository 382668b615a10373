#include "runtime/reference/forward_ref.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <numbers>
#include <stdexcept>
#include <string>

#include "runtime/gguf/gguf_reader.h"
#include "runtime/model/deepseek2.h"
#include "runtime/model/model_config.h"
#include "runtime/model/rope_scaling.h"
#include "runtime/quant/quant.h"
#include "runtime/reference/ops_ref.h"
#include "runtime/reference/router_ref.h"

namespace vkmoe {

namespace {

using Vec = std::vector<double>;

// A weight tensor dequantized to float: rows of `cols` contiguous elements.
struct Mat {
  std::vector<float> w;
  uint64_t cols = 0, rows = 0;
  const float* row(uint64_t r) const { return w.data() + r * cols; }
};

class Weights {
 public:
  explicit Weights(const GgufFile& f) : f_(f) {}
  const Mat* find(const std::string& name) {
    if (auto it = cache_.find(name); it != cache_.end()) return &it->second;
    const GgufTensorInfo* t = f_.find_tensor(name);
    if (!t) return nullptr;
    Mat m;
    m.cols = t->shape[0];
    m.rows = t->elements() / m.cols;
    m.w.resize(t->elements());
    auto data = f_.tensor_data(*t);
    const uint64_t row_bytes = ggml_row_bytes(t->type, m.cols);
    for (uint64_t r = 0; r < m.rows; ++r) dequantize_row(t->type, data.data() + r * row_bytes, m.w.data() + r * m.cols, m.cols);
    return &cache_.emplace(name, std::move(m)).first->second;
  }
  const Mat& get(const std::string& name) {
    const Mat* m = find(name);
    if (!m) throw std::runtime_error(f_.name() + ": missing tensor '" + name + "'");
    return *m;
  }
  // The optional per-tensor (or per-expert) output scale '<base>.scale' llama.cpp multiplies a
  // projection's result by; 1 when absent.
  double scale(const std::string& base, uint64_t index = 0) {
    const Mat* s = find(base + ".scale");
    return s ? s->w[s->w.size() == 1 ? 0 : index] : 1.0;
  }
  // DeepSeek's attn_kv_b, or the same rebuilt from attn_k_b / attn_v_b.
  const Mat& kv_b(const ModelConfig& c, uint32_t layer) {
    const std::string name = "blk." + std::to_string(layer) + ".attn_kv_b.weight";
    if (const Mat* m = find(name)) return *m;
    Mat m{assemble_kv_b(f_, c, layer), c.kv_lora_rank, uint64_t(c.n_head) * (c.qk_nope_dim + c.v_head_dim)};
    return cache_.emplace(name, std::move(m)).first->second;
  }

 private:
  const GgufFile& f_;
  std::map<std::string, Mat> cache_;
};

// y = W x over rows [row0, row0 + n) of W.
Vec matvec(const Mat& m, const Vec& x, uint64_t row0 = 0, uint64_t n = UINT64_MAX) {
  if (n == UINT64_MAX) n = m.rows - row0;
  Vec y(n);
  for (uint64_t r = 0; r < n; ++r) {
    const float* w = m.row(row0 + r);
    double acc = 0;
    for (uint64_t c = 0; c < m.cols; ++c) acc += static_cast<double>(w[c]) * x[c];
    y[r] = acc;
  }
  return y;
}

void add_bias(Vec& y, const Mat* b) {
  if (b)
    for (size_t i = 0; i < y.size(); ++i) y[i] += b->w[i];
}

// RMSNorm over consecutive groups of `group` elements, each with the same weight vector.
void rms_norm(Vec& x, const Mat& w, double eps, size_t group = 0) {
  if (group == 0) group = x.size();
  for (size_t g0 = 0; g0 < x.size(); g0 += group) {
    double ss = 0;
    for (size_t i = 0; i < group; ++i) ss += x[g0 + i] * x[g0 + i];
    const double inv = 1.0 / std::sqrt(ss / group + eps);
    for (size_t i = 0; i < group; ++i) x[g0 + i] = x[g0 + i] * inv * w.w[i];
  }
}

// A block norm ('<base>.weight'): RMSNorm, or LayerNorm (the mean subtracted first) with
// c.layer_norm, then + '<base>.bias' with c.norm_bias.
void block_norm(Vec& x, Weights& W, const std::string& base, const ModelConfig& c) {
  if (c.layer_norm) {
    double mean = 0;
    for (double v : x) mean += v;
    mean /= static_cast<double>(x.size());
    for (double& v : x) v -= mean;
  }
  rms_norm(x, W.get(base + ".weight"), c.norm_eps);
  if (c.norm_bias) add_bias(x, &W.get(base + ".bias"));
}

// RoPE on dims [offset, offset + n_rot) of each head, as ggml's rope_ext computes it; cos/sin
// scaled by rope_magnitude (runtime/model/rope_scaling.h).
void rope(Vec& x, uint32_t heads, uint32_t head_dim, uint32_t pos, const ModelConfig& c, uint32_t offset = 0,
          bool mla = false, const Mat* freq_factors = nullptr) {
  const uint32_t n_rot = c.n_rot;
  const double mscale = rope_magnitude(c, mla);
  std::array<double, 2> corr{0, 0};
  if (c.rope_yarn) {
    corr = rope_yarn_corr_dims_ref(n_rot, c.rope_yarn_orig_ctx, c.rope_freq_base, c.rope_yarn_beta_fast,
                                   c.rope_yarn_beta_slow);
  }
  for (uint32_t h = 0; h < heads; ++h) {
    double* v = x.data() + static_cast<size_t>(h) * head_dim + offset;
    for (uint32_t i = 0; i < n_rot / 2; ++i) {
      double extrap = pos * std::pow(static_cast<double>(c.rope_freq_base), -2.0 * i / n_rot);
      if (freq_factors) extrap /= freq_factors->w[i];  // rope_freqs or LongRoPE's
      double theta = c.rope_freq_scale * extrap;
      if (c.rope_yarn) {
        const double mix =
            (1.0 - std::clamp((i - corr[0]) / std::max(0.001, corr[1] - corr[0]), 0.0, 1.0)) * c.rope_yarn_ext_factor;
        theta = theta * (1 - mix) + extrap * mix;
      }
      const double cs = std::cos(theta) * mscale, sn = std::sin(theta) * mscale;
      const uint32_t a = c.rope_layout == RopeLayout::neox ? i : 2 * i;
      const uint32_t b = c.rope_layout == RopeLayout::neox ? i + n_rot / 2 : 2 * i + 1;
      const double x0 = v[a], x1 = v[b];
      v[a] = x0 * cs - x1 * sn;
      v[b] = x0 * sn + x1 * cs;
    }
  }
}

double silu(double v) { return v / (1.0 + std::exp(-v)); }

void scale_by(Vec& y, double s) {
  if (s != 1.0)
    for (auto& v : y) v *= s;
}

// The routed experts' extras (gpt-oss): per-expert biases [E] rows of F (gate, up) or H (down),
// and the clamped SwiGLU (llama.cpp's swiglu_oai).
struct ExpertExtras {
  const Mat *gate_b = nullptr, *up_b = nullptr, *down_b = nullptr;
  bool oai = false;
  double alpha = 0, limit = 0;
  bool gelu = false;  // gelu(g) * u (tanh approximation; Grok)
  std::array<double, 3> scales = {1, 1, 1};  // each projection's output scale (gate, up, down)
};

// down(silu(gate x) * up x) for one token (expert row0), or with the extras
// down(oai(gate x + bg, up x + bu)) + bd; the scales multiply each projection before its bias.
Vec swiglu(const Mat& gate, const Mat& up, const Mat& down, const Vec& x, uint64_t row0, uint64_t F, uint64_t H,
           const ExpertExtras& ex = {}) {
  Vec g = matvec(gate, x, row0 * F, F), u = matvec(up, x, row0 * F, F);
  for (uint64_t i = 0; i < F; ++i) {
    g[i] *= ex.scales[0];
    u[i] *= ex.scales[1];
    if (ex.gate_b) g[i] += ex.gate_b->row(row0)[i];
    if (ex.up_b) u[i] += ex.up_b->row(row0)[i];
    if (ex.oai) {
      const double a = std::min(g[i], ex.limit), b = std::clamp(u[i], -ex.limit, ex.limit);
      g[i] = a / (1.0 + std::exp(-ex.alpha * a)) * (b + 1.0);
    } else if (ex.gelu) {
      g[i] = 0.5 * g[i] * (1.0 + std::tanh(std::sqrt(2.0 / std::numbers::pi) * (g[i] + 0.044715 * g[i] * g[i] * g[i]))) * u[i];
    } else {
      g[i] = silu(g[i]) * u[i];
    }
  }
  Vec y = matvec(down, g, row0 * H, H);
  scale_by(y, ex.scales[2]);
  if (ex.down_b)
    for (uint64_t i = 0; i < H; ++i) y[i] += ex.down_b->row(row0)[i];
  return y;
}

// Attention of query t over keys lo .. t (lo > 0 under a sliding window); with a sink, the
// head's sink logit joins the softmax denominator (and adds no value).
void attend(const std::vector<Vec>& q, const std::vector<Vec>& k, const std::vector<Vec>& v,
            const ModelConfig::AttentionShape& a, uint32_t t, uint32_t lo, double scale, const Mat* sinks, Vec& attn,
            double softcap = 0) {
  const uint32_t Dk = a.head_dim_k, Dv = a.head_dim_v, NH = a.n_head, NKV = a.n_head_kv;
  for (uint32_t h = 0; h < NH; ++h) {
    const uint32_t kvh = h / (NH / NKV);
    Vec s(t + 1 - lo);
    double m = sinks ? sinks->w[h] : -INFINITY;
    for (uint32_t j = lo; j <= t; ++j) {
      double d = 0;
      for (uint32_t i = 0; i < Dk; ++i) d += q[t][h * Dk + i] * k[j][kvh * Dk + i];
      s[j - lo] = d * scale;
      if (softcap > 0) s[j - lo] = softcap * std::tanh(s[j - lo] / softcap);
      m = std::fmax(m, s[j - lo]);
    }
    double sum = sinks ? std::exp(sinks->w[h] - m) : 0.0;
    for (auto& e : s) sum += (e = std::exp(e - m));
    for (uint32_t j = lo; j <= t; ++j)
      for (uint32_t i = 0; i < Dv; ++i) attn[h * Dv + i] += s[j - lo] / sum * v[j][kvh * Dv + i];
  }
}

struct Qkv {
  Vec q, k, v;  // [NH * Dk], [NKV * Dk], [NKV * Dv]
};

// RoPE (unless the layer has none), then llama4's weightless per-head RMS norm of q and k (its
// RoPE layers) or q's attention temperature (its NoPE layers).
void rope_and_after(Qkv& r, const ModelConfig& c, const LayerSpec& spec, uint32_t pos, const Mat* freq_factors) {
  if (spec.rope) {
    rope(r.q, c.n_head, c.head_dim_k, pos, c, 0, false, freq_factors);
    rope(r.k, c.n_head_kv, c.head_dim_k, pos, c, 0, false, freq_factors);
  }
  if (spec.qk_l2_norm) {
    const Mat ones{std::vector<float>(c.head_dim_k, 1.0f), c.head_dim_k, 1};
    rms_norm(r.q, ones, c.norm_eps, c.head_dim_k);
    rms_norm(r.k, ones, c.norm_eps, c.head_dim_k);
  }
  if (spec.attn_temp)
    scale_by(r.q, std::log(std::floor((pos + double(c.attn_temp_offset)) / c.attn_temp_floor) + 1.0) *
                      double(c.attn_temp_scale) + 1.0);
}

// Projections, biases, QK-norm and RoPE of the common architectures.
Qkv standard_qkv(Weights& W, const ModelConfig& c, const std::string& b, const Vec& xn, uint32_t pos,
                 const LayerSpec& spec, const Mat* freq_factors) {
  Qkv r;
  if (const Mat* qkv = W.find(b + "attn_qkv.weight")) {  // one fused projection (DBRX, bailingmoe2): rows q | k | v
    const uint64_t qw = uint64_t(c.n_head) * c.head_dim_k, kw = uint64_t(c.n_head_kv) * c.head_dim_k;
    r = {matvec(*qkv, xn, 0, qw), matvec(*qkv, xn, qw, kw), matvec(*qkv, xn, qw + kw, uint64_t(c.n_head_kv) * c.head_dim_v)};
  } else {
    r = {matvec(W.get(b + "attn_q.weight"), xn), matvec(W.get(b + "attn_k.weight"), xn),
         matvec(W.get(b + "attn_v.weight"), xn)};
    scale_by(r.q, W.scale(b + "attn_q"));
    scale_by(r.k, W.scale(b + "attn_k"));
    scale_by(r.v, W.scale(b + "attn_v"));
  }
  add_bias(r.q, W.find(b + "attn_q.bias"));
  add_bias(r.k, W.find(b + "attn_k.bias"));
  add_bias(r.v, W.find(b + "attn_v.bias"));
  if (c.clamp_kqv > 0)  // after the bias, before QK-norm and RoPE (llama.cpp's build_qkv)
    for (Vec* p : {&r.q, &r.k, &r.v})
      for (double& e : *p) e = std::clamp(e, -double(c.clamp_kqv), double(c.clamp_kqv));
  auto qk_norm = [&] {
    if (c.qk_norm_full) {
      rms_norm(r.q, W.get(b + "attn_q_norm.weight"), c.norm_eps);
      rms_norm(r.k, W.get(b + "attn_k_norm.weight"), c.norm_eps);
    }
    if (c.qk_norm_per_head) {
      rms_norm(r.q, W.get(b + "attn_q_norm.weight"), c.norm_eps, c.head_dim_k);
      rms_norm(r.k, W.get(b + "attn_k_norm.weight"), c.norm_eps, c.head_dim_k);
    }
  };
  if (!c.qk_norm_after_rope) qk_norm();
  rope_and_after(r, c, spec, pos, freq_factors);
  if (c.qk_norm_after_rope) qk_norm();  // Hunyuan-MoE
  return r;
}

// DeepSeek's multi-head latent attention, decompressed: q per head [q_nope, q_pe] (through the
// normed q latent when q_lora_rank > 0); kv_a = [latent, k_pe]; kv_b (normed latent) gives
// per-head [k_nope, v]; every head's key is [k_nope_h, k_pe]. RoPE (normal layout) on the pe
// parts only; under YaRN its magnitude correction is cancelled (moved into the scale).
Qkv mla_qkv(Weights& W, const ModelConfig& c, uint32_t layer, const Vec& xn, uint32_t pos) {
  const std::string b = "blk." + std::to_string(layer) + ".";
  [[maybe_unused]] const ModelConfig::AttentionShape shape = c.attention_shape();
  const uint32_t NH = shape.n_head, Dk = shape.head_dim_k, Dv = shape.head_dim_v;
  const uint32_t nope = c.qk_nope_dim, rope_d = c.qk_rope_dim, kvl = c.kv_lora_rank;
  Qkv r;
  if (c.q_lora_rank) {
    Vec qa = matvec(W.get(b + "attn_q_a.weight"), xn);
    rms_norm(qa, W.get(b + "attn_q_a_norm.weight"), c.norm_eps);
    r.q = matvec(W.get(b + "attn_q_b.weight"), qa);
  } else {
    r.q = matvec(W.get(b + "attn_q.weight"), xn);
  }
  Vec kv_a = matvec(W.get(b + "attn_kv_a_mqa.weight"), xn);
  Vec k_pe(kv_a.begin() + kvl, kv_a.end()), lat(kv_a.begin(), kv_a.begin() + kvl);
  rms_norm(lat, W.get(b + "attn_kv_a_norm.weight"), c.norm_eps);
  const Vec kv = matvec(W.kv_b(c, layer), lat);
  rope(r.q, NH, Dk, pos, c, nope, true);
  rope(k_pe, 1, rope_d, pos, c, 0, true);
  r.k.resize(static_cast<size_t>(NH) * Dk);
  r.v.resize(static_cast<size_t>(NH) * Dv);
  for (uint32_t h = 0; h < NH; ++h) {
    const double* src = kv.data() + static_cast<size_t>(h) * (nope + Dv);
    std::copy(src, src + nope, r.k.begin() + static_cast<size_t>(h) * Dk);
    std::copy(k_pe.begin(), k_pe.end(), r.k.begin() + static_cast<size_t>(h) * Dk + nope);
    std::copy(src + nope, src + nope + Dv, r.v.begin() + static_cast<size_t>(h) * Dv);
  }
  return r;
}

// The routed experts (+ shared) of layer l for one normed token; with margin, the router's
// selection margin (weakest chosen minus best unchosen score) lowers *margin.
Vec moe_ffn(Weights& W, const ModelConfig& c, uint32_t l, const std::string& b, const Vec& xn, double* margin) {
  const uint32_t H = c.n_embd;
  Vec out(H, 0.0);
  const Mat& gate = W.get(b + "ffn_gate_exps.weight");
  const Mat& up = W.get(b + "ffn_up_exps.weight");
  const Mat& down = W.get(b + "ffn_down_exps.weight");
  Vec logits = matvec(W.get(b + "ffn_gate_inp.weight"), xn);
  if (c.router_bias) add_bias(logits, &W.get(b + "ffn_gate_inp.bias"));
  const Mat* bias = W.find(b + "exp_probs_b.bias");
  std::vector<float> bias_v = bias ? bias->w : std::vector<float>{};
  RouterSelection sel = router_select_ref(c.router, logits, bias_v);
  ExpertExtras extras{.oai = c.swiglu_oai, .alpha = c.swiglu_alpha, .limit = c.swiglu_limit, .gelu = c.gelu_experts};
  if (c.expert_bias)
    extras.gate_b = &W.get(b + "ffn_gate_exps.bias"), extras.up_b = &W.get(b + "ffn_up_exps.bias"),
    extras.down_b = &W.get(b + "ffn_down_exps.bias");
  if (margin) {
    double weakest = INFINITY, best_other = -INFINITY;
    std::vector<bool> chosen(sel.scores.size(), false);
    for (uint32_t id : sel.ids)
      if (id < chosen.size()) chosen[id] = true, weakest = std::min(weakest, sel.scores[id]);
    for (size_t e = 0; e < chosen.size(); ++e)
      if (!chosen[e]) best_other = std::max(best_other, sel.scores[e]);
    *margin = std::min({*margin, weakest - best_other, sel.group_margin});
  }
  for (size_t s = 0; s < sel.ids.size(); ++s) {
    if (sel.ids[s] == 0xFFFFFFFFu) continue;
    const uint32_t e = sel.ids[s];
    extras.scales = {W.scale(b + "ffn_gate_exps", e), W.scale(b + "ffn_up_exps", e), W.scale(b + "ffn_down_exps", e)};
    if (c.moe_weight_input) {  // llama4: the weight scales the expert's input
      Vec xw = xn;
      scale_by(xw, sel.weights[s]);
      Vec y = swiglu(gate, up, down, xw, e, c.n_ff_exp, H, extras);
      for (uint32_t i = 0; i < H; ++i) out[i] += y[i];
      continue;
    }
    Vec y = swiglu(gate, up, down, xn, e, c.n_ff_exp, H, extras);
    for (uint32_t i = 0; i < H; ++i) out[i] += sel.weights[s] * y[i];
  }
  if (c.layers[l].shared_experts) {
    Vec y = swiglu(W.get(b + "ffn_gate_shexp.weight"), W.get(b + "ffn_up_shexp.weight"),
                   W.get(b + "ffn_down_shexp.weight"), xn, 0, c.n_ff_shexp, H);
    double gate_w = 1.0;
    if (const Mat* sg = W.find(b + "ffn_gate_inp_shexp.weight")) gate_w = 1.0 / (1.0 + std::exp(-matvec(*sg, xn)[0]));
    for (uint32_t i = 0; i < H; ++i) out[i] += gate_w * y[i];
  }
  return out;
}
}  // namespace

std::vector<double> reference_forward(const GgufFile& f, const ModelConfig& c, std::span<const int32_t> tokens,
                                      std::vector<double>* route_margins, uint32_t n_ctx) {
  Weights W(f);
  const std::string factors_name = rope_factors_tensor(c, n_ctx);  // rope_freqs or LongRoPE's, or none
  const Mat* factors = factors_name.empty() ? nullptr : &W.get(factors_name);
  if (factors && factors->w.size() != c.n_rot / 2)
    throw std::runtime_error(f.name() + ": tensor '" + factors_name + "' has " + std::to_string(factors->w.size()) +
                             " elements, expected " + std::to_string(c.n_rot / 2));
  if (route_margins) route_margins->assign(tokens.size(), INFINITY);
  const uint32_t T = static_cast<uint32_t>(tokens.size()), H = c.n_embd;
  const ModelConfig::AttentionShape shape = c.attention_shape();
  const uint32_t NH = shape.n_head, Dk = shape.head_dim_k, Dv = shape.head_dim_v;
  const Mat& embd = W.get("token_embd.weight");
  std::vector<Vec> x(T, Vec(H));
  for (uint32_t t = 0; t < T; ++t) {
    if (tokens[t] < 0 || static_cast<uint32_t>(tokens[t]) >= c.n_vocab)
      throw std::out_of_range("token id " + std::to_string(tokens[t]) + " outside the vocabulary");
    for (uint32_t i = 0; i < H; ++i) x[t][i] = embd.row(tokens[t])[i];
    if (c.embedding_scale != 0.0f) scale_by(x[t], c.embedding_scale);  // Granite, Grok
  }
  for (uint32_t l = 0; l < c.n_layer; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    const bool mla = c.layers[l].attention == AttentionKind::mla;
    const bool parallel = c.layers[l].parallel_dense;  // arctic: the MoE reads the layer's input
    const std::vector<Vec> x_in = parallel ? x : std::vector<Vec>{};
    // Attention over all positions (causal).
    std::vector<Vec> q(T), k(T), v(T);
    for (uint32_t t = 0; t < T; ++t) {
      Vec xn = x[t];
      block_norm(xn, W, b + "attn_norm", c);
      Qkv r = mla ? mla_qkv(W, c, l, xn, t) : standard_qkv(W, c, b, xn, t, c.layers[l], factors);
      q[t] = std::move(r.q);
      k[t] = std::move(r.k);
      v[t] = std::move(r.v);
    }
    // DeepSeek: 1/sqrt(Dk) times YaRN's mscale^2.
    const double scale = c.attn_scale ? c.attn_scale : (mla ? mla_logit_scale(c) : 1.0) / std::sqrt(static_cast<double>(Dk));
    const uint32_t window = c.layers[l].window;
    const Mat* sinks = c.layers[l].sinks ? &W.get(b + "attn_sinks.weight") : nullptr;
    for (uint32_t t = 0; t < T; ++t) {
      Vec attn(static_cast<size_t>(NH) * Dv, 0.0);
      const uint32_t lo = c.layers[l].chunked ? t / window * window : window && t >= window ? t + 1 - window : 0;
      attend(q, k, v, shape, t, lo, scale, sinks, attn, c.attn_softcap);
      Vec o = matvec(W.get(b + "attn_output.weight"), attn);
      scale_by(o, W.scale(b + "attn_output"));
      if (c.residual_scale != 0.0f) scale_by(o, c.residual_scale);  // Granite (its FFN's: router.scale)
      add_bias(o, W.find(b + "attn_output.bias"));
      if (c.attn_post_norm) rms_norm(o, W.get(b + "attn_output_norm.weight"), c.norm_eps);
      for (uint32_t i = 0; i < H; ++i) x[t][i] += o[i];
    }
    // Feed-forward: routed experts (+ shared), or a dense FFN in DeepSeek's leading layers.
    for (uint32_t t = 0; t < T; ++t) {
      Vec xn = x[t];
      block_norm(xn, W, b + c.ffn_norm, c);
      Vec out(H, 0.0);
      if (parallel) {  // the dense FFN on the attention's output, the MoE on the layer's input
        const Vec d = swiglu(W.get(b + "ffn_gate.weight"), W.get(b + "ffn_up.weight"), W.get(b + "ffn_down.weight"), xn, 0,
                             c.n_ff, H);
        for (uint32_t i = 0; i < H; ++i) x[t][i] += d[i];
        xn = x_in[t];
        block_norm(xn, W, b + "ffn_norm_exps", c);
      }
      if (c.layers[l].ffn == FfnKind::dense) {
        out = swiglu(W.get(b + "ffn_gate.weight"), W.get(b + "ffn_up.weight"), W.get(b + "ffn_down.weight"), xn, 0, c.n_ff, H);
        for (uint32_t i = 0; i < H; ++i) x[t][i] += out[i];
        continue;
      }
      out = moe_ffn(W, c, l, b, xn, route_margins ? &(*route_margins)[t] : nullptr);
      if (c.layers[l].grok_dense) {  // Grok-2: (MoE + dense GELU FFN) / sqrt(2)
        const Vec d = swiglu(W.get(b + "ffn_gate.weight"), W.get(b + "ffn_up.weight"), W.get(b + "ffn_down.weight"), xn, 0,
                             c.n_ff, H, ExpertExtras{.gelu = true});
        for (uint32_t i = 0; i < H; ++i) out[i] = (out[i] + d[i]) * (std::sqrt(2.0) / 2);
      }
      if (!c.ffn_post_norm.empty()) rms_norm(out, W.get(b + c.ffn_post_norm + ".weight"), c.norm_eps);
      for (uint32_t i = 0; i < H; ++i) x[t][i] += out[i];
    }
  }
  const Mat* out_w = W.find("output.weight");
  if (!out_w) out_w = &embd;  // tied embeddings
  std::vector<double> logits(static_cast<size_t>(T) * c.n_vocab);
  for (uint32_t t = 0; t < T; ++t) {
    Vec xn = x[t];
    block_norm(xn, W, "output_norm", c);
    Vec y = matvec(*out_w, xn);
    if (c.logit_scale != 0.0f) scale_by(y, c.logit_scale);  // Granite (1 / its key), Grok
    if (c.output_bias) add_bias(y, &W.get("output.bias"));
    if (c.final_softcap > 0)
      for (double& e : y) e = c.final_softcap * std::tanh(e / c.final_softcap);
    std::copy(y.begin(), y.end(), logits.begin() + static_cast<size_t>(t) * c.n_vocab);
  }
  return logits;
}

std::vector<int32_t> reference_greedy(const GgufFile& f, const ModelConfig& c, std::span<const int32_t> prompt, int steps,
                                      uint32_t n_ctx) {
  std::vector<int32_t> seq(prompt.begin(), prompt.end()), out;
  for (int s = 0; s < steps; ++s) {
    auto logits = reference_forward(f, c, seq, nullptr, n_ctx);
    const double* last = logits.data() + (seq.size() - 1) * c.n_vocab;
    int32_t best = 0;
    for (uint32_t i = 1; i < c.n_vocab; ++i)
      if (last[i] > last[best]) best = static_cast<int32_t>(i);
    out.push_back(best);
    seq.push_back(best);
  }
  return out;
}

}  // namespace vkmoe
