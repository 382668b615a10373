// DeepSeek-V2/V3's kv_b rebuilt from attn_k_b / attn_v_b, for the MLA block
// (runtime/blocks/attention_mla.cpp) and the CPU reference.
#include "runtime/model/deepseek2.h"

#include <algorithm>
#include <stdexcept>

#include "runtime/gguf/gguf_reader.h"
#include "runtime/model/model_config.h"
#include "runtime/quant/quant.h"

namespace vkmoe {

std::vector<float> assemble_kv_b(const GgufFile& f, const ModelConfig& c, uint32_t layer) {
  const std::string b = "blk." + std::to_string(layer) + ".";
  const uint64_t NH = c.n_head, nope = c.qk_nope_dim, Dv = c.v_head_dim, kvl = c.kv_lora_rank;
  // Dequantized [rows][cols] of a 3-D tensor of ne = [cols, rows_per_head, NH].
  auto load = [&](const std::string& name, uint64_t cols, uint64_t rows) {
    const GgufTensorInfo* t = f.find_tensor(b + name);
    if (!t) throw std::runtime_error(f.name() + ": neither '" + b + "attn_kv_b.weight' nor '" + b + name + "' is present");
    if (!same_shape(t->shape, std::vector<uint64_t>{cols, rows, NH}))
      throw std::runtime_error(f.name() + ": tensor '" + b + name + "' is not [" + std::to_string(cols) + ", " +
                               std::to_string(rows) + ", " + std::to_string(NH) + "]");
    std::vector<float> w(cols * rows * NH);
    auto data = f.tensor_data(*t);
    const uint64_t row_bytes = ggml_row_bytes(t->type, cols);
    for (uint64_t r = 0; r < rows * NH; ++r) dequantize_row(t->type, data.data() + r * row_bytes, w.data() + r * cols, cols);
    return w;
  };
  const std::vector<float> kb = load("attn_k_b.weight", nope, kvl), vb = load("attn_v_b.weight", kvl, Dv);
  std::vector<float> kv(NH * (nope + Dv) * kvl);
  for (uint64_t h = 0; h < NH; ++h) {
    float* head = kv.data() + h * (nope + Dv) * kvl;
    for (uint64_t i = 0; i < nope; ++i)
      for (uint64_t j = 0; j < kvl; ++j) head[i * kvl + j] = kb[(h * kvl + j) * nope + i];
    std::copy_n(vb.data() + h * Dv * kvl, Dv * kvl, head + nope * kvl);
  }
  return kv;
}

}  // namespace vkmoe
