#include "runtime/model/synthetic_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <stdexcept>

#include "runtime/arch/registry.h"
#include "runtime/quant/quant.h"

namespace vkmoe {

uint64_t SplitMix::next() {
  uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

float SplitMix::uniform(float lo, float hi) {
  return lo + (hi - lo) * static_cast<float>((next() >> 40) * (1.0 / 16777216.0));
}

float SplitMix::normal() {
  const double u1 = ((next() >> 11) + 1.0) * (1.0 / 9007199254740993.0);
  const double u2 = (next() >> 11) * (1.0 / 9007199254740992.0);
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

namespace {

const char* kDefaultCorpus =
    "The quick brown fox jumps over the lazy dog. A mixture of experts routes every token to a few "
    "experts and adds their outputs, weighted by the router. The experts stay in memory; only the chosen "
    "ones cost time. Hello world! How are you today? I am fine, thank you, and the weather is nice. "
    "Vulkan runs compute shaders on every vendor's device, and lavapipe runs them on the processor.";

// GPT-2's byte-to-character map: printable bytes map to themselves, the rest to U+0100 onwards.
std::string byte_char(uint8_t b) {
  static const auto table = [] {
    std::vector<uint32_t> cp(256);
    std::vector<bool> direct(256, false);
    for (int c = '!'; c <= '~'; ++c) direct[c] = true;
    for (int c = 0xA1; c <= 0xAC; ++c) direct[c] = true;
    for (int c = 0xAE; c <= 0xFF; ++c) direct[c] = true;
    uint32_t extra = 256;
    for (int c = 0; c < 256; ++c) cp[c] = direct[c] ? c : extra++;
    return cp;
  }();
  uint32_t c = table[b];
  std::string s;
  if (c < 0x80) s += static_cast<char>(c);
  else {
    s += static_cast<char>(0xC0 | (c >> 6));
    s += static_cast<char>(0x80 | (c & 0x3F));
  }
  return s;
}

// Learns BPE merges on the corpus: words split before spaces (as the qwen2 pre-tokenizer keeps a
// leading space on a word), most frequent pair first, ties by first appearance.
void learn_merges(const std::string& corpus, uint32_t count, std::vector<std::string>& tokens,
                  std::vector<std::string>& merges) {
  std::vector<std::vector<std::string>> words;
  std::vector<std::string> cur;
  for (unsigned char ch : corpus) {
    const bool alpha = std::isalnum(ch);
    if ((ch == ' ' || !alpha) && !cur.empty()) words.push_back(std::move(cur)), cur.clear();
    cur.push_back(byte_char(ch));
    if (!alpha && ch != ' ') words.push_back(std::move(cur)), cur.clear();
  }
  if (!cur.empty()) words.push_back(std::move(cur));
  for (uint32_t m = 0; m < count; ++m) {
    std::map<std::pair<std::string, std::string>, std::pair<int, int>> freq;  // pair -> (count, -first seen)
    int order = 0;
    for (const auto& w : words)
      for (size_t i = 0; i + 1 < w.size(); ++i) {
        auto& f = freq[{w[i], w[i + 1]}];
        if (f.first == 0) f.second = -(order++);
        ++f.first;
      }
    if (freq.empty()) break;
    auto best = std::max_element(freq.begin(), freq.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
    // Pairs seen once still merge: a small corpus then ends up with whole words as tokens.
    const auto [a, b] = best->first;
    merges.push_back(a + " " + b);
    tokens.push_back(a + b);
    for (auto& w : words) {
      std::vector<std::string> out;
      for (size_t i = 0; i < w.size(); ++i) {
        if (i + 1 < w.size() && w[i] == a && w[i + 1] == b) out.push_back(a + b), ++i;
        else out.push_back(w[i]);
      }
      w = std::move(out);
    }
  }
}

}  // namespace

GgufWriter make_synthetic_model(const SyntheticSpec& s) {
  if (s.n_vocab < 259) throw std::invalid_argument("synthetic model: n_vocab must be at least 259");
  GgufWriter w;
  SplitMix rng(s.seed);
  const std::string arch = arch_info(s.arch).key;
  const bool ds = s.arch == Arch::deepseek2, glm = s.arch == Arch::glm4moe, ds1 = s.arch == Arch::deepseek;
  const bool oss = s.arch == Arch::gpt_oss;
  const bool ernie = s.arch == Arch::ernie4_5_moe, dots = s.arch == Arch::dots1;  // archa's
  const bool hunyuan = s.arch == Arch::hunyuan_moe, minimax = s.arch == Arch::minimax_m2;
  const bool l4 = s.arch == Arch::llama4;  // dense layers between the MoE ones, one shared expert
  const bool bl2 = s.arch == Arch::bailingmoe2;  // fused attn_qkv, grouped sigmoid routing, NextN blocks
  const bool dense_lead = ds || glm || ds1 || ernie || dots || bl2;  // leading dense layers, shared experts of F each
  const uint32_t n_blocks = s.n_layer + (glm || bl2 ? s.n_nextn : 0);
  const std::string p = arch + ".";
  const uint32_t H = s.n_embd, NH = s.n_head, E = s.n_expert, F = s.n_ff_exp;
  // DeepSeek's MLA decompresses to n_head heads of Dk = nope + rope keys and Dv values.
  const uint32_t D = ds ? s.qk_nope_dim + s.qk_rope_dim : s.head_dim, Dv = ds ? s.v_head_dim : s.head_dim;
  const uint32_t NKV = ds ? NH : s.n_head_kv;

  w.set_string("general.architecture", arch);
  w.set_string("general.name", s.name);
  w.set_uint32(p + "context_length", 4096);
  w.set_uint32(p + "embedding_length", H);
  w.set_uint32(p + "block_count", n_blocks);
  w.set_uint32(p + "feed_forward_length", dense_lead || l4 ? s.n_ff : F);
  w.set_uint32(p + "expert_feed_forward_length", F);
  w.set_uint32(p + "attention.head_count", NH);
  if (ds && s.split_kv_b) {  // as newer conversions write it: latent widths, one KV head, *_mla per head
    w.set_uint32(p + "attention.head_count_kv", 1);
    w.set_uint32(p + "attention.key_length", s.kv_lora_rank + s.qk_rope_dim);
    w.set_uint32(p + "attention.value_length", s.kv_lora_rank);
    w.set_uint32(p + "attention.key_length_mla", D);
    w.set_uint32(p + "attention.value_length_mla", Dv);
  } else {
    w.set_uint32(p + "attention.head_count_kv", NKV);
    w.set_uint32(p + "attention.key_length", D);
    w.set_uint32(p + "attention.value_length", Dv);
  }
  w.set_uint32(p + "rope.dimension_count", ds ? s.qk_rope_dim : glm || minimax || bl2 ? D / 2 : D);  // partial RoPE
  w.set_float32(p + "rope.freq_base", s.rope_freq_base);
  if (ds) {
    if (s.q_lora_rank) w.set_uint32(p + "attention.q_lora_rank", s.q_lora_rank);
    w.set_uint32(p + "attention.kv_lora_rank", s.kv_lora_rank);
    w.set_uint32(p + "leading_dense_block_count", s.n_layer_dense_lead);
    w.set_uint32(p + "expert_shared_count", s.n_expert_shared);
    w.set_uint32(p + "expert_gating_func", s.sigmoid_gating ? 2 : 1);
    w.set_bool(p + "expert_weights_norm", s.sigmoid_gating);
    w.set_float32(p + "expert_weights_scale", s.routed_scale);
    w.set_uint32(p + "expert_group_count", s.n_group);
    w.set_uint32(p + "expert_group_used_count", s.topk_group);
  }
  if ((ds || oss) && s.yarn_factor > 0) {
    w.set_string(p + "rope.scaling.type", "yarn");
    w.set_float32(p + "rope.scaling.factor", s.yarn_factor);
    w.set_uint32(p + "rope.scaling.original_context_length", 256);
    if (ds) w.set_float32(p + "rope.scaling.yarn_log_multiplier", 0.1f);
  }
  if (oss) w.set_uint32(p + "attention.sliding_window", s.sliding_window);
  if (s.arch == Arch::phimoe && s.longrope) {
    w.set_uint32(p + "rope.scaling.original_context_length", 16);
    w.set_float32(p + "rope.scaling.attn_factor", 1.2f);
  }
  if (l4) w.set_uint32(p + "interleave_moe_layer_step", s.moe_layer_step);
  if (glm || ds1 || bl2) {
    w.set_uint32(p + "leading_dense_block_count", s.n_layer_dense_lead);
    w.set_uint32(p + "expert_shared_count", s.n_expert_shared);
    w.set_float32(p + "expert_weights_scale", s.routed_scale);
  }
  if (glm) {  // as llama.cpp's own writer: sigmoid gating, and keys glm4moe ignores
    w.set_uint32(p + "expert_gating_func", 2);
    w.set_bool(p + "expert_weights_norm", true);
    w.set_uint32(p + "nextn_predict_layers", s.n_nextn);
    w.set_uint32(p + "expert_shared_feed_forward_length", 0);
    w.set_float32(p + "final_logit_softcapping", 30.0f);
  }
  if (ernie) {  // one shared FFN of F * n_expert_shared (0: none), every layer after the lead MoE
    w.set_uint32(p + "leading_dense_block_count", s.n_layer_dense_lead);
    w.set_uint32(p + "interleave_moe_layer_step", 1);
    w.set_uint32(p + "expert_shared_feed_forward_length", F * s.n_expert_shared);
  }
  if (dots) {  // sigmoid (2) or softmax (1) by sigmoid_gating; selection bias either way
    w.set_uint32(p + "leading_dense_block_count", s.n_layer_dense_lead);
    w.set_uint32(p + "expert_shared_count", s.n_expert_shared);
    w.set_float32(p + "expert_weights_scale", s.routed_scale);
    w.set_bool(p + "expert_weights_norm", true);
    w.set_uint32(p + "expert_gating_func", s.sigmoid_gating ? 2 : 1);
  }
  if (minimax) w.set_uint32(p + "expert_gating_func", s.sigmoid_gating ? 2 : 1);
  if (s.arch == Arch::granitemoe) {  // Granite's scales, none of them 1 (granite-3.0-1b-a400m: 12, 0.22, 1/64, 6)
    w.set_float32(p + "embedding_scale", 4.0f);
    w.set_float32(p + "residual_scale", 0.5f);
    w.set_float32(p + "attention.scale", 0.1f);
    w.set_float32(p + "logit_scale", 3.0f);
  }
  if (bl2) {  // as Ling 2.0's conversion: sigmoid, renormalised, groups, its shared width key 0
    w.set_uint32(p + "expert_gating_func", 2);
    w.set_bool(p + "expert_weights_norm", true);
    w.set_uint32(p + "expert_group_count", s.n_group);
    w.set_uint32(p + "expert_group_used_count", s.topk_group);
    w.set_uint32(p + "nextn_predict_layers", s.n_nextn);
    w.set_uint32(p + "expert_shared_feed_forward_length", 0);
  }
  w.set_float32(p + "attention.layer_norm_rms_epsilon", 1e-6f);
  if (s.arch == Arch::grok) {  // multipliers and caps small enough to bite on this model's values
    w.set_float32(p + "embedding_scale", 3.0f);
    w.set_float32(p + "attention.output_scale", 0.5f);
    w.set_float32(p + "attn_logit_softcapping", 1.5f);
    w.set_float32(p + "router_logit_softcapping", 30.0f);
    w.set_float32(p + "logit_scale", 0.75f);
    w.set_float32(p + "final_logit_softcapping", 2.0f);
  }
  if (s.arch == Arch::grok && s.grok2) {
    w.set_string(p + "rope.scaling.type", "yarn");
    w.set_float32(p + "rope.scaling.factor", 4.0f);
    w.set_uint32(p + "rope.scaling.original_context_length", 256);
    w.set_float32(p + "rope.scaling.yarn_ext_factor", 0.8f);
    w.set_float32(p + "rope.scaling.yarn_attn_factor", 1.0f);
    w.set_float32(p + "rope.scaling.yarn_beta_fast", 8.0f);
    w.set_float32(p + "rope.scaling.yarn_beta_slow", 1.0f);
    w.set_uint32(p + "attention.temperature_length", 1024);
  }
  if (s.arch == Arch::dbrx) {  // LayerNorm's epsilon; a clamp that bites on unit-scale q/k/v
    w.set_float32(p + "attention.layer_norm_epsilon", 1e-5f);
    w.set_float32(p + "attention.clamp_kqv", 1.5f);
  }
  w.set_uint32(p + "expert_count", E);
  w.set_uint32(p + "expert_used_count", s.n_expert_used);
  if (s.arch == Arch::qwen2moe || hunyuan) w.set_uint32(p + "expert_shared_feed_forward_length", s.n_ff_shexp);

  // Tokenizer: 256 byte tokens, three specials, then merges learned on the corpus.
  std::vector<std::string> tokens, merges;
  for (int b = 0; b < 256; ++b) tokens.push_back(byte_char(static_cast<uint8_t>(b)));
  const uint32_t first_special = 256;
  for (const char* sp : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}) tokens.push_back(sp);
  learn_merges(s.corpus.empty() ? kDefaultCorpus : s.corpus, s.n_vocab - 259, tokens, merges);
  while (tokens.size() < s.n_vocab) tokens.push_back("<|unused_" + std::to_string(tokens.size()) + "|>");
  std::vector<int32_t> types(tokens.size(), 1);
  for (uint32_t i = first_special; i < first_special + 3; ++i) types[i] = 3;
  for (size_t i = first_special + 3 + merges.size(); i < tokens.size(); ++i) types[i] = 3;
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", "qwen2");
  w.set_array("tokenizer.ggml.tokens", std::span<const std::string>(tokens));
  w.set_array("tokenizer.ggml.token_type", std::span<const int32_t>(types));
  w.set_array("tokenizer.ggml.merges", std::span<const std::string>(merges));
  w.set_uint32("tokenizer.ggml.bos_token_id", first_special);
  w.set_uint32("tokenizer.ggml.eos_token_id", first_special + 2);
  w.set_uint32("tokenizer.ggml.padding_token_id", first_special);
  w.set_bool("tokenizer.ggml.add_bos_token", false);
  w.set_string("tokenizer.chat_template",
               "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
               "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}");

  auto emit = [&](const std::string& name, std::vector<uint64_t> shape, const std::vector<float>& v, bool matrix) {
    const uint64_t n = v.size();
    GgmlType t = matrix ? s.matrix_type : GgmlType::F32;
    if (matrix && s.attn_v_type >= 0 && name.ends_with("attn_v.weight")) t = static_cast<GgmlType>(s.attn_v_type);
    if (matrix && s.shexp_down_type >= 0 && name.ends_with("ffn_down_shexp.weight")) t = static_cast<GgmlType>(s.shexp_down_type);
    if (matrix) {
      auto it = std::find_if(s.tensor_types.begin(), s.tensor_types.end(),
                             [&](const auto& tt) { return name.ends_with(tt.first); });
      if (it != s.tensor_types.end()) t = it->second;
    }
    std::vector<uint8_t> bytes;
    if (t == GgmlType::F32) {
      bytes.resize(n * 4);
      std::memcpy(bytes.data(), v.data(), bytes.size());
    } else if (!quantizer_supported(t) && s.encode) {
      bytes = s.encode(t, v);
    } else {
      bytes = quantize(t, v);
    }
    w.add_tensor(name, t, std::move(shape), bytes);
  };
  auto random_values = [&](uint64_t n, float scale, float offset) {
    std::vector<float> v(n);
    for (auto& x : v) x = offset + scale * rng.normal();
    return v;
  };
  auto tensor = [&](const std::string& name, std::vector<uint64_t> shape, float scale, bool matrix, float offset = 0) {
    uint64_t n = 1;
    for (auto d : shape) n *= d;
    emit(name, std::move(shape), random_values(n, scale, offset), matrix);
  };
  const float in_scale = 1.0f / std::sqrt(static_cast<float>(H));
  tensor("token_embd.weight", {H, s.n_vocab}, 1.0f, true);
  if (l4) tensor("rope_freqs.weight", {D / 2}, 0.5f, false, 2.0f);  // Llama-3 frequency factors, about 1 .. 3.5
  if (s.arch == Arch::phimoe && s.longrope) {
    tensor("rope_factors_long.weight", {D / 2}, 0.4f, false, 2.0f);
    tensor("rope_factors_short.weight", {D / 2}, 0.1f, false, 1.3f);
  }
  for (uint32_t l = 0; l < n_blocks; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    tensor(b + "attn_norm.weight", {H}, 0.1f, false, 1.0f);
    if (l >= s.n_layer) {  // a NextN block: its own tensors besides a whole layer's
      tensor(b + "nextn.eh_proj.weight", {2 * H, H}, in_scale, true);
      tensor(b + "nextn.enorm.weight", {H}, 0.1f, false, 1.0f);
      tensor(b + "nextn.hnorm.weight", {H}, 0.1f, false, 1.0f);
      tensor(b + "nextn.shared_head_norm.weight", {H}, 0.1f, false, 1.0f);
      if (bl2) tensor(b + "layer_out_norm.weight", {H}, 0.1f, false, 1.0f);
    }
    if (ds) {
      const uint32_t ql = s.q_lora_rank, kvl = s.kv_lora_rank;
      if (ql) {
        tensor(b + "attn_q_a.weight", {H, ql}, in_scale, true);
        tensor(b + "attn_q_a_norm.weight", {ql}, 0.1f, false, 1.0f);
        tensor(b + "attn_q_b.weight", {ql, NH * D}, 1.0f / std::sqrt(static_cast<float>(ql)), true);
      } else {
        tensor(b + "attn_q.weight", {H, NH * D}, in_scale, true);
      }
      tensor(b + "attn_kv_a_mqa.weight", {H, kvl + s.qk_rope_dim}, in_scale, true);
      tensor(b + "attn_kv_a_norm.weight", {kvl}, 0.1f, false, 1.0f);
      const uint32_t nope = s.qk_nope_dim, kv_rows = NH * (nope + Dv);
      auto kv = random_values(uint64_t(kvl) * kv_rows, 1.0f / std::sqrt(static_cast<float>(kvl)), 0.0f);
      if (!s.split_kv_b) {
        emit(b + "attn_kv_b.weight", {kvl, kv_rows}, kv, true);
      } else {  // the same weights as newer conversions ship them: k_b transposed per head, v_b
        std::vector<float> kb(uint64_t(NH) * kvl * nope), vb(uint64_t(NH) * Dv * kvl);
        for (uint64_t h = 0; h < NH; ++h) {
          const float* head = kv.data() + h * (nope + Dv) * kvl;
          for (uint64_t i = 0; i < nope; ++i)
            for (uint64_t j = 0; j < kvl; ++j) kb[(h * kvl + j) * nope + i] = head[i * kvl + j];
          std::copy_n(head + nope * kvl, uint64_t(Dv) * kvl, vb.data() + h * Dv * kvl);
        }
        emit(b + "attn_k_b.weight", {nope, kvl, NH}, kb, true);
        emit(b + "attn_v_b.weight", {kvl, Dv, NH}, vb, true);
      }
    } else if (s.arch == Arch::dbrx || bl2) {  // one fused projection, rows q | k | v
      tensor(b + "attn_qkv.weight", {H, (NH + 2 * NKV) * D}, in_scale, true);
    } else {
      tensor(b + "attn_q.weight", {H, NH * D}, in_scale, true);
      tensor(b + "attn_k.weight", {H, NKV * D}, in_scale, true);
      tensor(b + "attn_v.weight", {H, NKV * D}, in_scale, true);
    }
    tensor(b + "attn_output.weight", {NH * Dv, H}, 1.0f / std::sqrt(static_cast<float>(NH * Dv)), true);
    if (s.arch == Arch::qwen3moe || glm || dots || hunyuan || bl2) {
      tensor(b + "attn_q_norm.weight", {D}, 0.1f, false, 1.0f);
      tensor(b + "attn_k_norm.weight", {D}, 0.1f, false, 1.0f);
    }
    if (s.arch == Arch::olmoe || minimax) {
      tensor(b + "attn_q_norm.weight", {NH * D}, 0.1f, false, 1.0f);
      tensor(b + "attn_k_norm.weight", {NKV * D}, 0.1f, false, 1.0f);
    }
    if (s.arch == Arch::qwen2moe || glm || oss || ernie) {
      tensor(b + "attn_q.bias", {NH * D}, 0.1f, false);
      tensor(b + "attn_k.bias", {NKV * D}, 0.1f, false);
      tensor(b + "attn_v.bias", {NKV * D}, 0.1f, false);
    }
    if (oss) {
      tensor(b + "attn_output.bias", {H}, 0.1f, false);
      tensor(b + "attn_sinks.weight", {NH}, 1.0f, false);
    }
    if (s.arch == Arch::phimoe) {  // every norm with a bias; q/k/v/o biases
      tensor(b + "attn_norm.bias", {H}, 0.1f, false);
      tensor(b + "ffn_norm.bias", {H}, 0.1f, false);
      tensor(b + "attn_q.bias", {NH * D}, 0.1f, false);
      tensor(b + "attn_k.bias", {NKV * D}, 0.1f, false);
      tensor(b + "attn_v.bias", {NKV * D}, 0.1f, false);
      tensor(b + "attn_output.bias", {H}, 0.1f, false);
    }
    tensor(b + (glm || oss ? "post_attention_norm.weight" : s.arch == Arch::dbrx ? "attn_output_norm.weight" : "ffn_norm.weight"),
           {H}, 0.1f, false, 1.0f);
    auto ffn = [&](const std::string& suffix, uint32_t width) {
      tensor(b + "ffn_gate" + suffix, {H, width}, in_scale, true);
      tensor(b + "ffn_up" + suffix, {H, width}, in_scale, true);
      tensor(b + "ffn_down" + suffix, {width, H}, 1.0f / std::sqrt(static_cast<float>(width)), true);
    };
    if ((dense_lead && l < s.n_layer_dense_lead) || (l4 && (l + 1) % s.moe_layer_step != 0)) {
      ffn(".weight", s.n_ff);
      continue;
    }
    if (s.arch == Arch::grok) {  // norms of the attention's and the FFN's outputs
      tensor(b + "attn_output_norm.weight", {H}, 0.1f, false, 1.0f);
      tensor(b + "layer_output_norm.weight", {H}, 0.1f, false, 1.0f);
      if (s.grok2) ffn(".weight", F);  // Grok-2's dense FFN beside the MoE (feed_forward_length F)
    }
    if (s.arch == Arch::arctic) {  // the dense FFN beside the MoE (n_embd wide), the MoE's own norm
      ffn(".weight", H);
      tensor(b + "ffn_norm_exps.weight", {H}, 0.1f, false, 1.0f);
    }
    tensor(b + "ffn_gate_inp.weight", {H, E}, in_scale * 2, false);
    if ((ds && s.sigmoid_gating) || glm || bl2) tensor(b + "exp_probs_b.bias", {E}, 0.3f, false);
    if (ernie || (dots && !s.sigmoid_gating)) tensor(b + "exp_probs_b.bias", {E}, 0.05f, false);  // on probabilities: ~1/E
    if ((dots || minimax) && s.sigmoid_gating) tensor(b + "exp_probs_b.bias", {E}, 0.3f, false);
    if (minimax && !s.sigmoid_gating) tensor(b + "exp_probs_b.bias", {E}, 0.05f, false);
    tensor(b + "ffn_gate_exps.weight", {H, F, E}, in_scale, true);
    tensor(b + "ffn_up_exps.weight", {H, F, E}, in_scale, true);
    tensor(b + "ffn_down_exps.weight", {F, H, E}, 1.0f / std::sqrt(static_cast<float>(F)), true);
    if (oss) {  // gate/up scaled up so some values pass swiglu_oai's clamp at 7
      tensor(b + "ffn_gate_inp.bias", {E}, 0.3f, false);
      tensor(b + "ffn_gate_exps.bias", {F, E}, 2.0f, false);
      tensor(b + "ffn_up_exps.bias", {F, E}, 4.0f, false);
      tensor(b + "ffn_down_exps.bias", {H, E}, 0.1f, false);
    }
    if (s.arch == Arch::qwen2moe) {
      tensor(b + "ffn_gate_inp_shexp.weight", {H}, in_scale, false);
      ffn("_shexp.weight", s.n_ff_shexp);
    }
    if (dense_lead && s.n_expert_shared) ffn("_shexp.weight", F * s.n_expert_shared);
    if (hunyuan) ffn("_shexp.weight", s.n_ff_shexp);
    if (l4) ffn("_shexp.weight", F);
  }
  tensor("output_norm.weight", {H}, 0.1f, false, 1.0f);
  tensor("output.weight", {H, s.n_vocab}, in_scale, true);
  if (s.arch == Arch::phimoe) {
    tensor("output_norm.bias", {H}, 0.1f, false);
    tensor("output.bias", {s.n_vocab}, 0.1f, false);
  }
  return w;
}

SyntheticSpec deepseek_v3_form(SyntheticSpec spec) {
  spec.arch = Arch::deepseek2;
  spec.q_lora_rank = 24;
  spec.sigmoid_gating = true;
  spec.n_group = 4;
  spec.topk_group = 2;
  spec.routed_scale = 2.5f;
  spec.n_expert_shared = 1;
  spec.yarn_factor = 40.0f;
  return spec;
}

}  // namespace vkmoe
