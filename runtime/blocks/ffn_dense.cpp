#include "runtime/blocks/ffn_dense.h"

#include <cmath>
#include <stdexcept>

#include "runtime/kernels/transformer_ops.h"
#include "runtime/model/model_config.h"
#include "runtime/model/weights.h"
#include "runtime/vk/context.h"
#include "runtime/vk/sequence.h"

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

void record(const BlockRun& r, const FfnDenseLayer& w, const NormLayer& n) {
  const uint32_t F = r.cfg.n_ff, T = r.tokens();
  const BufferRange x = r.x(), xn = r.xn();
  const BufferRange u = r.act.ffn_up.range(0, T * F * 4ull);
  if (w.gate_up.rows) {  // the FFN norm folded into the one matvec (a plain RMSNorm only)
    const BufferRange gu = r.act.ffn_gate.range(0, T * 2ull * F * 4);
    const bool fused = norm::fused(r.cfg);
    const BufferRange in = fused ? x : norm::record(r, n.ffn_norm, n.ffn_norm_b, T);
    record_matmul(r.ctx, r.seq, w.gate_up, T, in, gu,
                  fused ? MatmulOptions{.norm = NormPrologue{n.ffn_norm, r.cfg.norm_eps}} : MatmulOptions{});
    record_silu_mul(r.ctx, r.seq, {.rows = T, .n = F, .a_stride = 2 * F, .b_stride = 2 * F, .y_stride = F, .b_offset = F}, gu,
                    gu, u);
  } else {
    norm::record(r, n.ffn_norm, n.ffn_norm_b, T);  // into xn
    const BufferRange g = r.act.ffn_gate.range(0, T * F * 4ull);
    record_matmul(r.ctx, r.seq, w.gate, T, xn, g);
    record_matmul(r.ctx, r.seq, w.up, T, xn, u);
    record_silu_mul(r.ctx, r.seq, {.rows = T, .n = F}, g, u, u);
  }
  record_matmul(r.ctx, r.seq, w.down, T, u, x, {.accumulate = true});
}

void record_gelu_beside(const BlockRun& r, const FfnDenseLayer& w, BufferRange out) {
  const uint32_t H = r.cfg.n_embd, F = r.cfg.n_ff, T = r.tokens();
  const BufferRange xn = r.xn();
  const BufferRange g = r.act.ffn_gate.range(0, T * F * 4ull), u = r.act.ffn_up.range(0, T * F * 4ull);
  record_matmul(r.ctx, r.seq, w.gate, T, xn, g);
  record_matmul(r.ctx, r.seq, w.up, T, xn, u);
  record_gelu_mul(r.ctx, r.seq, {.rows = T, .n = F}, g, u, u);
  record_matmul(r.ctx, r.seq, w.down, T, u, out, {.accumulate = true});
  record_scale(r.ctx, r.seq, {.rows = T, .n = H}, out, out, static_cast<float>(std::sqrt(2.0) / 2));
}

}  // namespace vkmoe::blocks::ffn_dense
