// ERNIE-4.5 MoE (llama.cpp: ernie4_5-moe, src/models/ernie4-5-moe.cpp). GQA with optional q/k/v
// biases, normal RoPE over the whole head, leading dense layers, then softmax routing whose
// top-k is chosen by probability + exp_probs_b (when present) and renormalised, beside an
// optional shared expert of expert_shared_feed_forward_length.
#include "runtime/arch/hparams.h"
#include "runtime/arch/registry.h"

namespace vkmoe {

void read_ernie4_5_moe(const Hparams& h, ModelConfig& c) {
  c.rope_layout = RopeLayout::normal;
  need_rope_over_whole_heads(h, c);
  c.n_ff_exp = h.need_u32("expert_feed_forward_length");
  c.n_ff_shexp = h.opt_u32("expert_shared_feed_forward_length", 0);
  c.n_expert_shared = c.n_ff_shexp ? 1 : 0;  // one FFN of that width
  c.n_layer_dense_lead = h.opt_u32("leading_dense_block_count", 0);
  // llama.cpp's graph runs layer l as MoE when l >= dense_lead and (l + 1) % step == 0, but its
  // loader gives every layer from dense_lead on the expert tensors: only a step that keeps all
  // of them MoE can be loaded there.
  const uint32_t step = h.need_u32("interleave_moe_layer_step");
  for (uint32_t l = c.n_layer_dense_lead; l < c.n_layer; ++l)
    if ((l + 1) % step)
      h.fail("interleave_moe_layer_step " + std::to_string(step) + " makes layer " + std::to_string(l) +
             " dense after the leading dense layers, which llama.cpp cannot load");
  c.qkv_bias = h.has_tensor("blk.0.attn_q.bias");
  if (h.has_tensor("blk.0.attn_output.bias"))
    h.fail("tensor 'blk.0.attn_output.bias': llama.cpp loads it for ernie4_5-moe but never applies it");
  c.router.gating = Gating::softmax_topk;
  c.softmax_selection_bias = h.has_tensor("blk." + std::to_string(c.n_layer_dense_lead) + ".exp_probs_b.bias");
  c.router.renormalize = true;  // expert_weights_scale is not read (the weights are not scaled)
  fill_layers(c);
}

}  // namespace vkmoe
