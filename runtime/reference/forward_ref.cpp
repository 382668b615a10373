#include "runtime/reference/forward_ref.h"

#include <cmath>
#include <map>
#include <stdexcept>
#include <string>

#include "runtime/gguf/gguf_reader.h"
#include "runtime/model/model_config.h"
#include "runtime/quant/quant.h"
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

void rope(Vec& x, uint32_t heads, uint32_t head_dim, uint32_t pos, const ModelConfig& c) {
  const uint32_t n_rot = c.n_rot;
  for (uint32_t h = 0; h < heads; ++h) {
    double* v = x.data() + static_cast<size_t>(h) * head_dim;
    for (uint32_t i = 0; i < n_rot / 2; ++i) {
      const double theta = c.rope_freq_scale * pos * std::pow(static_cast<double>(c.rope_freq_base), -2.0 * i / n_rot);
      const double cs = std::cos(theta), sn = std::sin(theta);
      const uint32_t a = c.rope_layout == RopeLayout::neox ? i : 2 * i;
      const uint32_t b = c.rope_layout == RopeLayout::neox ? i + n_rot / 2 : 2 * i + 1;
      const double x0 = v[a], x1 = v[b];
      v[a] = x0 * cs - x1 * sn;
      v[b] = x0 * sn + x1 * cs;
    }
  }
}

double silu(double v) { return v / (1.0 + std::exp(-v)); }

}  // namespace

std::vector<double> reference_forward(const GgufFile& f, const ModelConfig& c, std::span<const int32_t> tokens) {
  if (c.arch == Arch::deepseek2) throw std::runtime_error("reference_forward: deepseek2 (MLA) is not implemented yet");
  if (c.rope_yarn) throw std::runtime_error("reference_forward: YaRN RoPE is not implemented yet");
  Weights W(f);
  const uint32_t T = static_cast<uint32_t>(tokens.size()), H = c.n_embd;
  const uint32_t Dk = c.head_dim_k, Dv = c.head_dim_v, NH = c.n_head, NKV = c.n_head_kv;
  const Mat& embd = W.get("token_embd.weight");
  std::vector<Vec> x(T, Vec(H));
  for (uint32_t t = 0; t < T; ++t) {
    if (tokens[t] < 0 || static_cast<uint32_t>(tokens[t]) >= c.n_vocab)
      throw std::out_of_range("token id " + std::to_string(tokens[t]) + " outside the vocabulary");
    for (uint32_t i = 0; i < H; ++i) x[t][i] = embd.row(tokens[t])[i];
  }
  for (uint32_t l = 0; l < c.n_layer; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    // Attention over all positions (causal).
    std::vector<Vec> q(T), k(T), v(T);
    for (uint32_t t = 0; t < T; ++t) {
      Vec xn = x[t];
      rms_norm(xn, W.get(b + "attn_norm.weight"), c.norm_eps);
      q[t] = matvec(W.get(b + "attn_q.weight"), xn);
      k[t] = matvec(W.get(b + "attn_k.weight"), xn);
      v[t] = matvec(W.get(b + "attn_v.weight"), xn);
      add_bias(q[t], W.find(b + "attn_q.bias"));
      add_bias(k[t], W.find(b + "attn_k.bias"));
      add_bias(v[t], W.find(b + "attn_v.bias"));
      if (c.qk_norm_full) {
        rms_norm(q[t], W.get(b + "attn_q_norm.weight"), c.norm_eps);
        rms_norm(k[t], W.get(b + "attn_k_norm.weight"), c.norm_eps);
      }
      if (c.qk_norm_per_head) {
        rms_norm(q[t], W.get(b + "attn_q_norm.weight"), c.norm_eps, Dk);
        rms_norm(k[t], W.get(b + "attn_k_norm.weight"), c.norm_eps, Dk);
      }
      rope(q[t], NH, Dk, t, c);
      rope(k[t], NKV, Dk, t, c);
    }
    const double scale = 1.0 / std::sqrt(static_cast<double>(Dk));
    for (uint32_t t = 0; t < T; ++t) {
      Vec attn(static_cast<size_t>(NH) * Dv, 0.0);
      for (uint32_t h = 0; h < NH; ++h) {
        const uint32_t kvh = h / (NH / NKV);
        Vec s(t + 1);
        double m = -INFINITY;
        for (uint32_t j = 0; j <= t; ++j) {
          double d = 0;
          for (uint32_t i = 0; i < Dk; ++i) d += q[t][h * Dk + i] * k[j][kvh * Dk + i];
          s[j] = d * scale;
          m = std::fmax(m, s[j]);
        }
        double sum = 0;
        for (auto& e : s) sum += (e = std::exp(e - m));
        for (uint32_t j = 0; j <= t; ++j)
          for (uint32_t i = 0; i < Dv; ++i) attn[h * Dv + i] += s[j] / sum * v[j][kvh * Dv + i];
      }
      Vec o = matvec(W.get(b + "attn_output.weight"), attn);
      for (uint32_t i = 0; i < H; ++i) x[t][i] += o[i];
    }
    // Feed-forward: routed experts (+ shared), or a dense FFN in DeepSeek's leading layers.
    for (uint32_t t = 0; t < T; ++t) {
      Vec xn = x[t];
      rms_norm(xn, W.get(b + "ffn_norm.weight"), c.norm_eps);
      Vec out(H, 0.0);
      const Mat& gate = W.get(b + "ffn_gate_exps.weight");
      const Mat& up = W.get(b + "ffn_up_exps.weight");
      const Mat& down = W.get(b + "ffn_down_exps.weight");
      Vec logits = matvec(W.get(b + "ffn_gate_inp.weight"), xn);
      const Mat* bias = W.find(b + "exp_probs_b.bias");
      std::vector<float> bias_v = bias ? bias->w : std::vector<float>{};
      RouterSelection sel = router_select_ref(c.router, logits, bias_v);
      for (size_t s = 0; s < sel.ids.size(); ++s) {
        if (sel.ids[s] == 0xFFFFFFFFu) continue;
        const uint64_t e = sel.ids[s], F = c.n_ff_exp;
        Vec g = matvec(gate, xn, e * F, F), u = matvec(up, xn, e * F, F);
        for (uint64_t i = 0; i < F; ++i) g[i] = silu(g[i]) * u[i];
        Vec y = matvec(down, g, e * H, H);
        for (uint32_t i = 0; i < H; ++i) out[i] += sel.weights[s] * y[i];
      }
      if (c.n_expert_shared) {
        const uint64_t F = c.n_ff_shexp;
        Vec g = matvec(W.get(b + "ffn_gate_shexp.weight"), xn), u = matvec(W.get(b + "ffn_up_shexp.weight"), xn);
        for (uint64_t i = 0; i < F; ++i) g[i] = silu(g[i]) * u[i];
        Vec y = matvec(W.get(b + "ffn_down_shexp.weight"), g);
        double gate_w = 1.0;
        if (const Mat* sg = W.find(b + "ffn_gate_inp_shexp.weight")) gate_w = 1.0 / (1.0 + std::exp(-matvec(*sg, xn)[0]));
        for (uint32_t i = 0; i < H; ++i) out[i] += gate_w * y[i];
      }
      for (uint32_t i = 0; i < H; ++i) x[t][i] += out[i];
    }
  }
  const Mat* out_w = W.find("output.weight");
  if (!out_w) out_w = &embd;  // tied embeddings
  std::vector<double> logits(static_cast<size_t>(T) * c.n_vocab);
  for (uint32_t t = 0; t < T; ++t) {
    Vec xn = x[t];
    rms_norm(xn, W.get("output_norm.weight"), c.norm_eps);
    Vec y = matvec(*out_w, xn);
    std::copy(y.begin(), y.end(), logits.begin() + static_cast<size_t>(t) * c.n_vocab);
  }
  return logits;
}

std::vector<int32_t> reference_greedy(const GgufFile& f, const ModelConfig& c, std::span<const int32_t> prompt, int steps) {
  std::vector<int32_t> seq(prompt.begin(), prompt.end()), out;
  for (int s = 0; s < steps; ++s) {
    auto logits = reference_forward(f, c, seq);
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
