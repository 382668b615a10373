// The dense SwiGLU FFN of the leading layers (DeepSeek, GLM-4.5): ffn_gate / ffn_up / ffn_down of
// width n_ff, gate and up as one matvec when fused at load.
#include <cmath>
#include <stdexcept>

#include "runtime/model/model_layer.h"
#include "runtime/vk/context.h"
#include "runtime/vk/sequence.h"

namespace vkmoe {

void Model::bind_dense_ffn(Layer& L, uint32_t l) {
  const std::string b = "blk." + std::to_string(l) + ".";
  const uint32_t H = cfg_.n_embd, F = cfg_.n_ff;
  auto matrix = [&](const std::string& name, uint32_t rows, uint32_t cols) { return dense_weight(b + name, rows, cols); };
  L.dense_ffn = true;
  if (weights_.find(b + "ffn_gate_up.weight")) {
    L.ffn_gate_up = matrix("ffn_gate_up.weight", 2 * F, H);
  } else {
    L.ffn_gate = matrix("ffn_gate.weight", F, H);
    L.ffn_up = matrix("ffn_up.weight", F, H);
  }
  L.ffn_down = matrix("ffn_down.weight", H, F);
}

// Arctic's dense FFN in the residual beside the MoE: bound as a dense layer's, yet the layer stays
// a MoE one (dense_ffn false); the MoE's norm is ffn_norm_exps, over the layer's input.
void Model::bind_parallel_dense(Layer& L, uint32_t l) {
  if (!cfg_.layers[l].parallel_dense || L.dense_ffn) return;
  if (!fused_norms()) throw std::runtime_error(file_.name() + ": a dense FFN beside the MoE needs plain RMS norms");
  bind_dense_ffn(L, l);
  L.dense_ffn = false;
  L.parallel = true;
  const std::string name = "blk." + std::to_string(l) + ".ffn_norm_exps.weight";
  L.router.norm = vector_weight(name, cfg_.n_embd);
  if (!L.router.norm.size) throw std::runtime_error(file_.name() + ": missing tensor '" + name + "'");
}

// The leading layers' dense SwiGLU FFN, added into the residual: gate and up as one matvec
// when fused at load.
void Model::record_dense_ffn_block(Sequence& seq, const Layer& L, uint32_t T) {
  const uint32_t H = cfg_.n_embd, F = cfg_.n_ff;
  const BufferRange x = x_.range(0, T * H * 4ull), xn = xn_.range(0, T * H * 4ull);
  const BufferRange u = ffn_up_.range(0, T * F * 4ull);
  if (L.ffn_gate_up.rows) {  // the FFN norm folded into the one matvec (a plain RMSNorm only)
    const BufferRange gu = ffn_gate_.range(0, T * 2ull * F * 4);
    const bool fused = fused_norms();
    const BufferRange in = fused ? x : record_block_norm(seq, L.ffn_norm, L.ffn_norm_b, T);
    record_matmul(ctx_, seq, L.ffn_gate_up, T, in, gu,
                  fused ? MatmulOptions{.norm = NormPrologue{L.ffn_norm, cfg_.norm_eps}} : MatmulOptions{});
    record_silu_mul(ctx_, seq, {.rows = T, .n = F, .a_stride = 2 * F, .b_stride = 2 * F, .y_stride = F, .b_offset = F}, gu,
                    gu, u);
  } else {
    record_block_norm(seq, L.ffn_norm, L.ffn_norm_b, T);  // into xn
    const BufferRange g = ffn_gate_.range(0, T * F * 4ull);
    record_matmul(ctx_, seq, L.ffn_gate, T, xn, g);
    record_matmul(ctx_, seq, L.ffn_up, T, xn, u);
    record_silu_mul(ctx_, seq, {.rows = T, .n = F}, g, u, u);
  }
  record_matmul(ctx_, seq, L.ffn_down, T, u, x, {.accumulate = true});
}

// Grok-2's dense FFN beside the MoE (as llama.cpp's grok graph): bound as a dense layer's, the
// layer stays a MoE one; both read ffn_norm's output (xn).
void Model::bind_grok_dense(Layer& L, uint32_t l) {
  if (!cfg_.layers[l].grok_dense || L.dense_ffn) return;
  bind_dense_ffn(L, l);
  L.dense_ffn = false;
  L.grok_dense = true;
}

// down(gelu(gate xn) * up xn) added into out (the MoE's output), then the sum times sqrt(2)/2.
void Model::record_grok_dense(Sequence& seq, const Layer& L, uint32_t T, BufferRange out) {
  const uint32_t H = cfg_.n_embd, F = cfg_.n_ff;
  const BufferRange xn = xn_.range(0, T * H * 4ull);
  const BufferRange g = ffn_gate_.range(0, T * F * 4ull), u = ffn_up_.range(0, T * F * 4ull);
  record_matmul(ctx_, seq, L.ffn_gate, T, xn, g);
  record_matmul(ctx_, seq, L.ffn_up, T, xn, u);
  record_gelu_mul(ctx_, seq, {.rows = T, .n = F}, g, u, u);
  record_matmul(ctx_, seq, L.ffn_down, T, u, out, {.accumulate = true});
  record_scale(ctx_, seq, {.rows = T, .n = H}, out, out, static_cast<float>(std::sqrt(2.0) / 2));
}

}  // namespace vkmoe
