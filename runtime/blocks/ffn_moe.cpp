#include "runtime/blocks/ffn_moe.h"

#include <algorithm>
#include <optional>
#include <stdexcept>

#include "runtime/model/model_config.h"
#include "runtime/model/weights.h"
#include "runtime/vk/context.h"
#include "runtime/vk/sequence.h"

namespace vkmoe::blocks::ffn_moe {

namespace {

// Whether a shared expert can ride as one more slot of the routed decode pair (SharedExpertSlot):
// the routed tensors' types, one binding per tensor.
bool fits_shared_slot(const MoeFfnWeights& r, const MoeFfnWeights& sh) {
  return sh.gate.type == r.gate.type && sh.up.type == r.up.type && sh.down.type == r.down.type &&
         sh.gate.pieces.size() == 1 && sh.up.pieces.size() == 1 && sh.down.pieces.size() == 1;
}

// gpt-oss's router logit bias, the experts' biases and clamped SwiGLU, Grok's GELU, llama4's
// weight on the input: from the config's flags, so any architecture with these tensors can use them.
void bind_extras(Weights& w, uint32_t l, FfnMoeLayer& m) {
  const ModelConfig& c = w.config();
  const std::string b = "blk." + std::to_string(l) + ".";
  const uint32_t H = c.n_embd, E = c.n_expert, F = c.n_ff_exp;
  m.experts.gelu = c.gelu_experts;
  if (c.router_bias) m.router.logit_bias = w.need(b + "ffn_gate_inp.bias", E);
  if (c.expert_bias) {
    // The gate and up biases were uploaded as one [2 E F] range (attention_concats in weights.cpp).
    if (!w.find(b + "ffn_gate_up_exps.bias")) {
      for (const char* part : {"ffn_gate_exps.bias", "ffn_up_exps.bias"}) w.need(b + part, uint64_t(E) * F);
      throw std::runtime_error(w.name() + ": '" + b + "ffn_gate_exps.bias' and '" + b + "ffn_up_exps.bias' must be F32 [" +
                               std::to_string(F) + ", " + std::to_string(E) + "]");
    }
    m.experts.gate_up_bias = w.need(b + "ffn_gate_up_exps.bias", 2ull * E * F);
    m.experts.down_bias = w.need(b + "ffn_down_exps.bias", uint64_t(E) * H);
  }
  m.experts.swiglu_oai = c.swiglu_oai;
  m.experts.alpha = c.swiglu_alpha;
  m.experts.limit = c.swiglu_limit;
  m.experts.weight_input = c.moe_weight_input;  // llama4
}

}  // namespace

FfnMoeLayer bind(Weights& w, uint32_t l, const NormLayer& norm) {
  const ModelConfig& c = w.config();
  const std::string b = "blk." + std::to_string(l) + ".";
  const uint32_t H = c.n_embd, E = c.n_expert, F = c.n_ff_exp;
  FfnMoeLayer m;
  const DeviceTensor& gate_inp = w.get(b + "ffn_gate_inp.weight");
  w.check_shape(b + "ffn_gate_inp.weight", gate_inp.shape, {H, E});
  m.router.type = gate_inp.type;
  m.router.w = gate_inp.buffer.range(0, gate_inp.bytes);
  m.router.bias = w.vector(b + "exp_probs_b.bias", E);
  // The FFN norm (RMSNorm, LayerNorm, with a bias or not) runs inside the router, which writes
  // the normed x; Grok's attention post norm and residual add before it. Arctic's MoE has its own norm.
  if (c.layers[l].parallel_dense) {
    m.router.norm = w.need(b + "ffn_norm_exps.weight", H);
  } else {
    m.router.norm = norm.ffn_norm;
    m.router.norm_bias = norm.ffn_norm_b;
  }
  m.router.norm_center = c.layer_norm;
  if (norm::post_in_router(c, l)) m.router.post_norm = norm.attn_post_norm;
  m.router.norm_eps = c.norm_eps;
  if (const DeviceTensor* sg = w.find(b + "ffn_gate_inp_shexp.weight")) {
    m.router.shared_type = sg->type;
    m.router.shared_gate_w = sg->buffer.range(0, sg->bytes);
  }
  m.experts = {w.experts(b + "ffn_gate_exps.weight", H, F, E), w.experts(b + "ffn_up_exps.weight", H, F, E),
               w.experts(b + "ffn_down_exps.weight", F, H, E)};
  if (w.find(b + "ffn_gate_shexp.weight")) {
    const uint32_t Fs = c.n_ff_shexp;
    m.shared = true;
    m.shared_experts = {w.single(b + "ffn_gate_shexp.weight", H, Fs), w.single(b + "ffn_up_shexp.weight", H, Fs),
                        w.single(b + "ffn_down_shexp.weight", Fs, H)};
    m.shared_in_slot = fits_shared_slot(m.experts, m.shared_experts);
  }
  bind_extras(w, l, m);
  return m;
}

std::vector<BlockBuffer> activation_bytes(const ModelConfig& c, const BatchShape& b) {
  using C = MemoryCategory;
  const uint64_t B = b.tokens, K = c.n_expert_used;
  const uint64_t slices = c.n_layer * ((B * K * 4 + b.align - 1) / b.align * b.align);  // one aligned slice per layer
  const uint32_t slots = static_cast<uint32_t>(K + (c.n_ff_shexp ? 1 : 0));
  const MoeScratchBytes s = moe_scratch_bytes({.tokens = static_cast<uint32_t>(B), .k = slots, .experts = c.n_expert,
                                               .hidden = c.n_embd, .ffn = std::max(c.n_ff_exp, c.n_ff_shexp)},
                                              b.max_range);
  return {{&ActivationLayout::ids, {"expert ids", slices}},
          {&ActivationLayout::wts, {"expert weights", slices}},
          {&ActivationLayout::routing, {"routing readback", 2 * slices}},
          {&ActivationLayout::shared_gate, {"shared gate", B * 4}},
          {&ActivationLayout::moe_h, {"moe h", s.h, C::scratch}},
          {&ActivationLayout::moe_y, {"moe y", s.y, C::scratch}},
          {&ActivationLayout::moe_route, {"moe route", s.route, C::scratch}}};
}

void record(const BlockRun& r, const FfnMoeLayer& w, const NormLayer& n, BufferRange input, const FfnDenseLayer* beside) {
  const uint32_t H = r.cfg.n_embd, K = r.cfg.n_expert_used, T = r.tokens(), l = r.layer;
  const uint64_t slice = r.layout.ids_slice(T);  // the routing readback reads the slices of this batch size
  const BufferRange x = r.x(), xn = r.xn();
  const BufferRange ids = r.act.ids.range(l * slice, T * K * 4ull), wts = r.act.wts.range(l * slice, T * K * 4ull);
  const bool gated = w.shared && w.router.shared_gate_w.size;
  const BufferRange gate = gated ? r.act.shared_gate.range(0, T * 4ull) : BufferRange{};
  // With Grok's attention post norm the attention left its output in x_in (attention_gqa).
  const BufferRange branch = w.router.post_norm.size ? r.act.x_in.range(0, T * H * 4ull) : BufferRange{};
  record_router(r.ctx, r.seq, r.cfg.router, w.router, T, H, input.size ? input : x, {ids, wts, {}, {}, gate, xn, branch});
  const SharedExpertSlot slot{&w.shared_experts, gate};
  const bool post = n.ffn_post_norm.size > 0;  // grok: the output normed (in x_in) before the residual add
  const BufferRange out = post ? r.act.x_in.range(0, T * H * 4ull) : x;
  record_moe_experts(r.ctx, r.seq, w.experts,
                     {.tokens = T, .k = K, .x = xn, .ids = ids, .weights = wts, .out = out, .accumulate = !post,
                      .shared = w.shared_in_slot ? &slot : nullptr},
                     r.act.moe);
  if (beside) ffn_dense::record_gelu_beside(r, *beside, out);  // into out, then the sum / sqrt(2)
  if (post) norm::record_post(r, n.ffn_post_norm, out, T);
  if (w.shared && !w.shared_in_slot)
    record_shared_expert(r.ctx, r.seq, w.shared_experts,
                         {.tokens = T, .x = xn, .scale = gated ? std::optional<BufferRange>(gate) : std::nullopt, .out = x,
                          .accumulate = true},
                         r.act.moe);
}

}  // namespace vkmoe::blocks::ffn_moe
