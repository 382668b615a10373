// Llama 4 Scout / Maverick (general.architecture "llama4"; llama.cpp's src/models/llama4.cpp).
#include <string>

#include "runtime/arch/hparams.h"
#include "runtime/arch/registry.h"

namespace vkmoe {

// As llama.cpp reads and runs the file:
//  - expert_feed_forward_length and interleave_moe_layer_step are required; layer l has the
//    routed experts (+ one shared expert of the same width, ungated) when (l + 1) % step == 0,
//    else a dense FFN of feed_forward_length;
//  - attention.sliding_window, when present, only switches chunking off when 0 (its value is
//    otherwise ignored): the chunk is 8192, layer l is chunked when l % pattern < pattern - 1
//    (attention.sliding_window_pattern, default 4);
//  - no RoPE on layer l when (l + 1) % 4 == 0 (n_no_rope_layer_step, fixed at 4), where q is
//    scaled by the attention temperature log(floor((pos + 1) / 8192) + 1) * 0.1 + 1;
//  - the RoPE layers RMS-normalise q and k per head without a weight, after RoPE, unless the file
//    has 128 experts (Maverick);
//  - normal RoPE over the whole head; the attention scale is 1/sqrt(head width);
//  - router: sigmoid of the logits, top-k (k = 1 in the released models), not renormalised, and
//    the weight multiplies the expert's input (build_moe_ffn's weight_before_ffn).
void read_llama4(const Hparams& h, ModelConfig& c) {
  c.rope_layout = RopeLayout::normal;
  c.n_ff_exp = h.need_u32("expert_feed_forward_length");
  c.n_moe_layer_step = h.need_u32("interleave_moe_layer_step");
  if (h.has("attention.sliding_window") && h.opt_u32("attention.sliding_window", 0) == 0)
    h.fail("attention.sliding_window 0 (no chunked attention) is a configuration llama.cpp cannot run for llama4 "
           "(its attention temperature is then unset)");
  uint32_t period = 4;
  // A per-layer array here is refused by get_uint, naming the key.
  if (auto v = h.file().get_uint(h.prefix() + "attention.sliding_window_pattern")) period = static_cast<uint32_t>(*v);
  if (period > (1u << 20)) h.fail("attention.sliding_window_pattern " + std::to_string(period) + " is out of range");
  if (auto b = h.file().get_float(h.prefix() + "rope.freq_base_swa"); b && static_cast<float>(*b) != c.rope_freq_base)
    h.fail("rope.freq_base_swa " + std::to_string(*b) + " differs from rope.freq_base " +
           std::to_string(c.rope_freq_base) + "; per-layer RoPE bases are not supported");
  if (c.n_rot != c.head_dim_k || c.head_dim_v != c.head_dim_k)
    h.fail("llama4 heads are rope.dimension_count wide: key " + std::to_string(c.head_dim_k) + ", value " +
           std::to_string(c.head_dim_v) + ", rope " + std::to_string(c.n_rot));
  if (c.rope_yarn) h.fail("llama4 with YaRN RoPE scaling is not what llama.cpp runs");
  // llama.cpp would group-limit llama4's selection too; no released file has groups.
  if (h.opt_u32("expert_group_count", 1) > 1) h.fail("llama4 with expert groups (expert_group_count) is not supported");
  c.rope_freqs = h.has_tensor("rope_freqs.weight");  // Llama-3 frequency factors (Scout)
  c.n_swa = 8192;
  c.attn_temp_floor = 8192;
  c.attn_temp_scale = 0.1f;
  c.attn_temp_offset = 1.0f;
  const bool qk_norm = h.opt_u32("expert_count", 0) != 128;  // llama.cpp: not LLM_TYPE_17B_128E
  constexpr uint32_t kNoRopeStep = 4;

  c.n_expert_shared = 1;
  c.n_ff_shexp = c.n_ff_exp;
  c.moe_weight_input = true;
  c.router.gating = Gating::sigmoid_group;
  c.router.renormalize = false;
  c.router.scale = 1.0f;  // llama.cpp leaves expert_weights_scale unread for llama4 (0: unscaled)
  fill_layers(c);
  for (uint32_t l = 0; l < c.n_layer; ++l) {
    LayerSpec& s = c.layers[l];
    s.ffn = (l + 1) % c.n_moe_layer_step == 0 ? FfnKind::moe : FfnKind::dense;
    s.shared_experts = s.ffn == FfnKind::moe;
    s.window = (period == 0 || l % period < period - 1) ? c.n_swa : 0;
    s.chunked = s.window != 0;
    s.rope = (l + 1) % kNoRopeStep != 0;
    s.attn_temp = !s.rope;
    s.qk_l2_norm = s.rope && qk_norm;
  }
}

}  // namespace vkmoe
