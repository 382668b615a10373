// Shape checks and grid sizing shared by the kernel recorders.
#pragma once
#include <array>
#include <cstdint>
#include <string>

#include "runtime/vk/memory.h"

namespace vkmoe {

class Context;

// Throws std::invalid_argument("<kernel>: <what>").
[[noreturn]] void op_fail(const char* kernel, const std::string& what);

// Throws unless the range holds at least `floats` 4-byte elements.
void need_floats(const char* kernel, const char* name, const BufferRange& r, uint64_t floats);
void need_bytes(const char* kernel, const char* name, const BufferRange& r, uint64_t bytes);

// Elements spanned by `rows` rows of n elements, `stride` apart.
inline uint64_t row_extent(uint32_t rows, uint32_t stride, uint32_t n) { return uint64_t(rows - 1) * stride + n; }

inline uint32_t ceil_div(uint64_t a, uint64_t b) { return static_cast<uint32_t>((a + b - 1) / b); }

// {x, y} workgroup counts covering `groups` workgroups when x alone may not
// (maxComputeWorkGroupCount[0] can be as low as 65535); shaders linearise y * x_count + x.
std::array<uint32_t, 2> grid_2d(Context& ctx, uint64_t groups);

}  // namespace vkmoe
