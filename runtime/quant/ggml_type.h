// GGML tensor types as GGUF numbers them, with their block geometry. The reader knows every
// type's size so it can check any file; compute supports the subset in `type_supported`.
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>

namespace vkmoe {

enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22,
  IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
  TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39,
};

struct GgmlTypeInfo {
  GgmlType type;
  std::string_view name;  // as llama.cpp prints it, e.g. "q4_K"
  uint32_t block_elems;   // elements per block (1 for plain types)
  uint32_t block_bytes;   // bytes per block
};

// nullopt for a number GGUF does not define (the reader turns that into a clear error).
std::optional<GgmlTypeInfo> ggml_type_info(uint32_t type);
std::string_view ggml_type_name(GgmlType t);

// Bytes of a row of n elements; n must be a multiple of block_elems.
uint64_t ggml_row_bytes(GgmlType t, uint64_t n);

// Types every kernel that reads weights computes on (matvec, GEMM, MoE decode and batched, the
// embedding lookup): F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K..Q6_K, IQ1_S, IQ1_M,
// IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ4_NL, IQ4_XS and MXFP4.
bool type_supported(GgmlType t);

// Types the shaders can dequantize (dequant.glsl): since every kernel takes them, the same set.
bool type_gpu_dequant(GgmlType t);

}  // namespace vkmoe
