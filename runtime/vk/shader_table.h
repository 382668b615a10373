// The SPIR-V of every shader variant, embedded at build time from shaders/variants.txt.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

namespace vkmoe {

struct ShaderVariant {
  const char* kernel;    // the kernel this variant implements, e.g. "reduce_sum"
  const char* name;      // unique variant name, e.g. "reduce_sum_sg"
  const char* needs;     // comma-separated device features it needs ("" = portable)
  const uint32_t* code;  // SPIR-V words
  size_t words;
};

// In table order: for each kernel, preferred variants come first.
std::span<const ShaderVariant> shader_variants();

}  // namespace vkmoe
