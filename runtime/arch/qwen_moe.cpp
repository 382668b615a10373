// Qwen3-MoE and Qwen1.5/2-MoE (llama.cpp: qwen3moe, qwen2moe). NeoX RoPE, softmax top-k routing.
#include "runtime/arch/hparams.h"
#include "runtime/arch/registry.h"

namespace vkmoe {

namespace {

// As llama.cpp sizes their experts: expert_feed_forward_length, or n_ff / k when 0 or absent.
uint32_t qwen_expert_width(const Hparams& h, const ModelConfig& c) {
  const uint32_t f = h.opt_u32("expert_feed_forward_length", 0);
  return f || !c.n_expert_used ? f : c.n_ff / c.n_expert_used;
}

}  // namespace

// Per-head QK-norm, top-k of the softmax renormalised.
void read_qwen3moe(const Hparams& h, ModelConfig& c) {
  c.rope_layout = RopeLayout::neox;
  c.n_ff_exp = qwen_expert_width(h, c);
  c.qk_norm_per_head = true;
  c.router.gating = Gating::softmax_topk;
  c.router.renormalize = true;
  fill_layers(c);
}

// QKV biases, one shared expert gated by sigmoid(ffn_gate_inp_shexp . x).
void read_qwen2moe(const Hparams& h, ModelConfig& c) {
  c.rope_layout = RopeLayout::neox;
  c.n_ff_exp = qwen_expert_width(h, c);
  c.n_expert_shared = h.opt_u32("expert_shared_count", 0);
  c.n_ff_shexp = h.opt_u32("expert_shared_feed_forward_length", 0);
  if (h.has_tensor("blk.0.ffn_gate_shexp.weight")) c.n_expert_shared = 1;
  if (!c.n_ff_shexp && c.n_expert_shared) {
    const auto* t = h.file().find_tensor("blk.0.ffn_gate_shexp.weight");
    c.n_ff_shexp = static_cast<uint32_t>(t && t->shape.size() > 1 ? t->shape[1] : 0);
  }
  c.shared_gate = h.has_tensor("blk.0.ffn_gate_inp_shexp.weight");
  c.qkv_bias = h.has_tensor("blk.0.attn_q.bias");
  c.router.gating = Gating::softmax_topk;
  c.router.renormalize = false;
  fill_layers(c);
}

}  // namespace vkmoe
