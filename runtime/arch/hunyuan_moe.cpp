// Hunyuan-A13B (llama.cpp: hunyuan-moe, src/models/hunyuan-moe.cpp). GQA with per-head QK-norm
// applied AFTER NeoX RoPE, softmax routing renormalised over experts of feed_forward_length,
// and on every layer a shared expert of expert_shared_feed_forward_length (feed_forward_length
// when 0 or absent). Its NTK-alpha RoPE scaling is folded into rope.freq_base by llama.cpp's
// converter (base * alpha^(d / (d - 2)), scaling type none); a rope.scaling.alpha key is not
// applied for this architecture, here as there.
#include "runtime/arch/hparams.h"
#include "runtime/arch/registry.h"

namespace vkmoe {

void read_hunyuan_moe(const Hparams& h, ModelConfig& c) {
  c.rope_layout = RopeLayout::neox;
  need_rope_over_whole_heads(h, c);
  h.need_u32("expert_feed_forward_length");  // required by llama.cpp, though the experts are n_ff wide
  c.n_ff_exp = c.n_ff;
  c.n_expert_shared = 1;
  c.n_ff_shexp = h.opt_u32("expert_shared_feed_forward_length", 0);
  if (!c.n_ff_shexp) c.n_ff_shexp = c.n_ff;
  c.qk_norm_per_head = true;
  c.qk_norm_after_rope = true;
  c.qkv_bias = h.has_tensor("blk.0.attn_q.bias");
  c.router.gating = Gating::softmax_topk;
  c.router.renormalize = true;  // expert_weights_scale is not read (the weights are not scaled)
  fill_layers(c);
}

}  // namespace vkmoe
