// DeepSeek-V2/V3 helpers shared by the GPU path (deepseek2.cpp) and the CPU reference.
#pragma once
#include <cstdint>
#include <vector>

namespace vkmoe {

class GgufFile;
struct ModelConfig;

// attn_kv_b of a layer as F32 rows [n_head * (nope + Dv)][kv_lora_rank] (head h: nope key rows,
// then Dv value rows), rebuilt from attn_k_b [nope, kv_lora, n_head] (kv_b's key part,
// transposed per head) and attn_v_b [kv_lora, Dv, n_head], which newer conversions ship
// instead. Throws naming the file and tensor when they are missing or misshapen.
std::vector<float> assemble_kv_b(const GgufFile& file, const ModelConfig& cfg, uint32_t layer);

}  // namespace vkmoe
