#include "runtime/blocks/ffn_moe_ref.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "runtime/model/model_config.h"
#include "runtime/reference/ref_math.h"
#include "runtime/reference/router_ref.h"

namespace vkmoe::blocks::ffn_moe {

using ref::Mat;
using ref::Vec;

Vec reference_expert(const Mat& gate, const Mat& up, const Mat& down, const Vec& x, uint64_t row0, uint64_t F, uint64_t H,
                     const RefExpertExtras& ex) {
  Vec g = ref::matvec(gate, x, row0 * F, F), u = ref::matvec(up, x, row0 * F, F);
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
      g[i] = ref::silu(g[i]) * u[i];
    }
  }
  Vec y = ref::matvec(down, g, row0 * H, H);
  ref::scale_by(y, ex.scales[2]);
  if (ex.down_b)
    for (uint64_t i = 0; i < H; ++i) y[i] += ex.down_b->row(row0)[i];
  return y;
}

namespace {

// The selection margin of one token's routing: the weakest chosen expert's score minus the best
// unchosen one's, and the expert-group margin.
double selection_margin(const RouterSelection& sel) {
  double weakest = INFINITY, best_other = -INFINITY;
  std::vector<bool> chosen(sel.scores.size(), false);
  for (uint32_t id : sel.ids)
    if (id < chosen.size()) chosen[id] = true, weakest = std::min(weakest, sel.scores[id]);
  for (size_t e = 0; e < chosen.size(); ++e)
    if (!chosen[e]) best_other = std::max(best_other, sel.scores[e]);
  return std::min(weakest - best_other, sel.group_margin);
}

// The shared experts (of n_ff_shexp rows), gated by sigmoid(ffn_gate_inp_shexp . xn) when the
// file has that gate (Qwen2-MoE), added to out.
void add_shared(ref::RefWeights& W, const ModelConfig& c, const std::string& b, const Vec& xn, Vec& out) {
  Vec y = reference_expert(W.get(b + "ffn_gate_shexp.weight"), W.get(b + "ffn_up_shexp.weight"),
                           W.get(b + "ffn_down_shexp.weight"), xn, 0, c.n_ff_shexp, c.n_embd);
  double gate_w = 1.0;
  if (const Mat* sg = W.find(b + "ffn_gate_inp_shexp.weight")) gate_w = 1.0 / (1.0 + std::exp(-ref::matvec(*sg, xn)[0]));
  for (uint32_t i = 0; i < c.n_embd; ++i) out[i] += gate_w * y[i];
}

}  // namespace

Vec reference(ref::RefWeights& W, const ModelConfig& c, uint32_t layer, const Vec& xn, double* margin) {
  const std::string b = "blk." + std::to_string(layer) + ".";
  const uint32_t H = c.n_embd;
  Vec out(H, 0.0);
  const Mat& gate = W.get(b + "ffn_gate_exps.weight");
  const Mat& up = W.get(b + "ffn_up_exps.weight");
  const Mat& down = W.get(b + "ffn_down_exps.weight");
  Vec logits = ref::matvec(W.get(b + "ffn_gate_inp.weight"), xn);
  if (c.router_bias) ref::add_bias(logits, &W.get(b + "ffn_gate_inp.bias"));
  const Mat* bias = W.find(b + "exp_probs_b.bias");
  std::vector<float> bias_v = bias ? bias->w : std::vector<float>{};
  RouterSelection sel = router_select_ref(c.router, logits, bias_v);
  RefExpertExtras extras{.oai = c.swiglu_oai, .alpha = c.swiglu_alpha, .limit = c.swiglu_limit, .gelu = c.gelu_experts};
  if (c.expert_bias)
    extras.gate_b = &W.get(b + "ffn_gate_exps.bias"), extras.up_b = &W.get(b + "ffn_up_exps.bias"),
    extras.down_b = &W.get(b + "ffn_down_exps.bias");
  if (margin) *margin = std::min(*margin, selection_margin(sel));
  for (size_t s = 0; s < sel.ids.size(); ++s) {
    if (sel.ids[s] == 0xFFFFFFFFu) continue;
    const uint32_t e = sel.ids[s];
    extras.scales = {W.scale(b + "ffn_gate_exps", e), W.scale(b + "ffn_up_exps", e), W.scale(b + "ffn_down_exps", e)};
    if (c.moe_weight_input) {  // llama4: the weight scales the expert's input
      Vec xw = xn;
      ref::scale_by(xw, sel.weights[s]);
      Vec y = reference_expert(gate, up, down, xw, e, c.n_ff_exp, H, extras);
      for (uint32_t i = 0; i < H; ++i) out[i] += y[i];
      continue;
    }
    Vec y = reference_expert(gate, up, down, xn, e, c.n_ff_exp, H, extras);
    for (uint32_t i = 0; i < H; ++i) out[i] += sel.weights[s] * y[i];
  }
  if (c.layers[layer].shared_experts) add_shared(W, c, b, xn, out);
  return out;
}

}  // namespace vkmoe::blocks::ffn_moe
