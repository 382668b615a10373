// The MoE FFN block: the router (FFN norm folded in, or reading xn after a norm block; groups,
// selection bias, Qwen2-MoE's shared gate, gpt-oss's logit bias), the routed experts (gpt-oss's
// biases and clamped SwiGLU, Grok's GELU, llama4's weight on the input) and the shared experts
// (one more slot of the routed decode pair when their types match, else their own dispatches),
// added into the residual. Arctic's router reads the layer's input (x_in) normed by
// ffn_norm_exps; Grok's output goes through its post norm, with Grok-2's dense FFN beside it.
#pragma once
#include <vector>

#include "runtime/arch/layer_spec.h"
#include "runtime/blocks/block.h"
#include "runtime/blocks/ffn_dense.h"
#include "runtime/blocks/norm.h"
#include "runtime/kernels/moe_experts.h"
#include "runtime/kernels/router.h"

namespace vkmoe {

struct FfnMoeLayer {
  RouterWeights router;
  MoeFfnWeights experts;
  bool shared = false;
  MoeFfnWeights shared_experts;    // experts == 1
  bool shared_in_slot = false;     // shared experts ride as one more slot of the routed decode pair
};

namespace blocks::ffn_moe {

// norm: the layer's bound norms (the router folds ffn_norm in when the norms are plain RMS).
FfnMoeLayer bind(Weights& w, uint32_t layer, const NormLayer& norm);
// Router outputs (ids, wts [L][align(B * K)] and their readback), the shared gate [B] and the
// experts' scratch (moe_scratch_bytes: what create_moe_scratch takes).
std::vector<BlockBuffer> activation_bytes(const ModelConfig& cfg, const BatchShape& b);
// input: the router's input instead of x (arctic: the layer's input); beside: Grok-2's dense FFN.
void record(const BlockRun& r, const FfnMoeLayer& w, const NormLayer& norm, BufferRange input = {},
            const FfnDenseLayer* beside = nullptr);

}  // namespace blocks::ffn_moe
}  // namespace vkmoe
