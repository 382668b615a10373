#include "runtime/kernels/op_util.h"

#include <algorithm>
#include <stdexcept>

#include "runtime/vk/context.h"

namespace vkmoe {

void op_fail(const char* kernel, const std::string& what) {
  throw std::invalid_argument(std::string(kernel) + ": " + what);
}

void need_bytes(const char* kernel, const char* name, const BufferRange& r, uint64_t bytes) {
  if (r.buffer == VK_NULL_HANDLE || r.size < bytes)
    op_fail(kernel, std::string(name) + " range holds " + std::to_string(r.size) + " bytes, needs " +
                        std::to_string(bytes));
}

void need_floats(const char* kernel, const char* name, const BufferRange& r, uint64_t floats) {
  need_bytes(kernel, name, r, floats * 4);
}

std::array<uint32_t, 2> grid_2d(Context& ctx, uint64_t groups) {
  const uint64_t max_x = ctx.device().caps().max_workgroup_count[0];
  const uint64_t x = std::max<uint64_t>(1, std::min(groups, max_x));
  return {static_cast<uint32_t>(x), static_cast<uint32_t>((groups + x - 1) / x)};
}

}  // namespace vkmoe
