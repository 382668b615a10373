// The dense FFN block: ffn_gate / ffn_up / ffn_down of width n_ff (gate and up as one matvec when
// fused at load). Three uses, by the LayerSpec: a dense layer's SwiGLU FFN (the leading layers of
// DeepSeek and GLM-4.5, llama4's interleaved ones); arctic's SwiGLU FFN in the residual beside the
// MoE (parallel_dense); Grok-2's GELU FFN on ffn_norm's output beside the MoE (grok_dense), added
// into the MoE's output before the sum is scaled by sqrt(2)/2.
#pragma once
#include <vector>

#include "runtime/arch/layer_spec.h"
#include "runtime/blocks/block.h"
#include "runtime/blocks/norm.h"
#include "runtime/kernels/matmul.h"

namespace vkmoe {

struct FfnDenseLayer {
  DenseWeight gate, up, down;
  DenseWeight gate_up;  // [gate | up] concatenated at load, when they share a type
};

namespace blocks::ffn_dense {

// Whether a layer of this spec has the block (alone or beside the MoE).
bool present(const LayerSpec& spec);
FfnDenseLayer bind(Weights& w, uint32_t layer);
// ffn_gate [B, 2 * n_ff] (gate | up), ffn_up [B, n_ff]; x_in [B, H] beside the MoE.
std::vector<BlockBuffer> activation_bytes(const ModelConfig& cfg, const BatchShape& b, const LayerSpec& spec);
// The SwiGLU FFN on norm(x), added into the residual.
void record(const BlockRun& r, const FfnDenseLayer& w, const NormLayer& norm);
// Grok-2: down(gelu(gate xn) * up xn) added into out (the MoE's output), then the sum times sqrt(2)/2.
void record_gelu_beside(const BlockRun& r, const FfnDenseLayer& w, BufferRange out);

}  // namespace blocks::ffn_dense
}  // namespace vkmoe
