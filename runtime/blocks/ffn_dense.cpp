#include "runtime/blocks/ffn_dense.h"

#include <cmath>
#include <stdexcept>

#include "runtime/kernels/transformer_ops.h"
#include "runtime/model/model_config.h"
#include "runtime/model/weights.h"
#include "runtime/vk/context.h"
#include "runtime/vk/sequence.h"
#include "shaders/ops_params.h"

namespace vkmoe::blocks::ffn_dense {

bool present(const LayerSpec& spec) { return spec.ffn == FfnKind::dense || spec.parallel_dense || spec.grok_dense; }

FfnDenseLayer bind(Weights& w, uint32_t l) {
  const ModelConfig& c = w.config();
  const std::string b = "blk." + std::to_string(l) + ".";
  const uint32_t H = c.n_embd, F = c.n_ff;
  if (c.layers[l].ffn == FfnKind::moe && c.layers[l].parallel_dense && !norm::fused(c))
    throw std::runtime_error(w.name() + ": a dense FFN beside the MoE needs plain RMS norms");
  FfnDenseLayer d;
  if (w.find(b + "ffn_gate_up.weight")) {
    d.gate_up = w.dense(b + "ffn_gate_up.weight", 2 * F, H);
  } else {
    d.gate = w.dense(b + "ffn_gate.weight", F, H);
    d.up = w.dense(b + "ffn_up.weight", F, H);
  }
  d.down = w.dense(b + "ffn_down.weight", H, F);
  return d;
}

std::vector<BlockBuffer> activation_bytes(const ModelConfig& c, const BatchShape& b, const LayerSpec& spec) {
  const uint64_t B = b.tokens;
  std::vector<BlockBuffer> out{{&ActivationLayout::ffn_gate, {"dense ffn gate (| up)", B * 2 * c.n_ff * 4}},
                               {&ActivationLayout::ffn_up, {"dense ffn up", B * c.n_ff * 4}}};
  if (spec.parallel_dense || spec.grok_dense)
    out.push_back({&ActivationLayout::x_in, {"layer input (parallel MoE) / FFN output", B * c.n_embd * 4}});
  return out;
}

namespace {

// act(gate) * up of [gate | up] on `in` into u ([T, F]): one matvec with the activation fused at
// decode, the matmul and an element-wise pass in prefill; gate and up apart when their types differ.
void record_gated(const BlockRun& r, const FfnDenseLayer& w, BufferRange in, const MatmulOptions& in_opts, Glu act,
                  BufferRange u) {
  const uint32_t F = r.cfg.n_ff, T = r.tokens();
  const bool gelu = act == Glu::gelu;
  if (w.gate_up.rows && T <= MM_VEC_MAX_T) {
    MatmulOptions o = in_opts;
    o.glu = act;
    record_matmul(r.ctx, r.seq, w.gate_up, T, in, u, o);
    return;
  }
  const auto gated = [&](const EltShape& e, BufferRange g, BufferRange up) {
    if (gelu) record_gelu_mul(r.ctx, r.seq, e, g, up, u);
    else record_silu_mul(r.ctx, r.seq, e, g, up, u);
  };
  if (w.gate_up.rows) {
    const BufferRange gu = r.act.ffn_gate.range(0, T * 2ull * F * 4);
    record_matmul(r.ctx, r.seq, w.gate_up, T, in, gu, in_opts);
    gated({.rows = T, .n = F, .a_stride = 2 * F, .b_stride = 2 * F, .y_stride = F, .b_offset = F}, gu, gu);
  } else {
    const BufferRange g = r.act.ffn_gate.range(0, T * F * 4ull);
    record_matmul(r.ctx, r.seq, w.gate, T, in, g, in_opts);
    record_matmul(r.ctx, r.seq, w.up, T, in, u, in_opts);
    gated({.rows = T, .n = F}, g, u);
  }
}

}  // namespace

void record(const BlockRun& r, const FfnDenseLayer& w, const NormLayer& n) {
  const uint32_t F = r.cfg.n_ff, T = r.tokens();
  const BufferRange x = r.x();
  const BufferRange u = r.act.ffn_up.range(0, T * F * 4ull);
  // The FFN norm folded into the one matvec (a plain RMSNorm and gate | up only).
  const bool fused = w.gate_up.rows && norm::fused(r.cfg);
  const BufferRange in = fused ? x : norm::record(r, n.ffn_norm, n.ffn_norm_b, T);
  record_gated(r, w, in, fused ? MatmulOptions{.norm = NormPrologue{n.ffn_norm, r.cfg.norm_eps}} : MatmulOptions{},
               Glu::silu, u);
  record_matmul(r.ctx, r.seq, w.down, T, u, x, {.accumulate = true});
}

void record_gelu_beside(const BlockRun& r, const FfnDenseLayer& w, BufferRange out) {
  const uint32_t F = r.cfg.n_ff, T = r.tokens();
  const BufferRange u = r.act.ffn_up.range(0, T * F * 4ull);
  record_gated(r, w, r.xn(), {}, Glu::gelu, u);
  // (MoE + dense) / sqrt(2) as the down matvec's store.
  record_matmul(r.ctx, r.seq, w.down, T, u, out,
                {.accumulate = true, .scale = static_cast<float>(std::sqrt(2.0) / 2), .scale_sum = true});
}

}  // namespace vkmoe::blocks::ffn_dense
