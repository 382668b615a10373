#include "runtime/kernels/basic.h"

#include <algorithm>
#include <stdexcept>

#include "runtime/vk/context.h"
#include "runtime/vk/sequence.h"
#include "shaders/kernel_params.h"

namespace vkmoe {

namespace {
constexpr uint32_t kReducePerGroup = REDUCE_SUM_WG * 64;  // 64 elements per invocation
constexpr uint32_t kScaleAddGroup = SCALE_ADD_WG;
}  // namespace

uint32_t reduce_partials(uint64_t n) {
  return static_cast<uint32_t>(std::max<uint64_t>(1, (n + kReducePerGroup - 1) / kReducePerGroup));
}

uint32_t record_reduce_sum(Context& ctx, Sequence& seq, const Buffer& x, uint64_t n, const Buffer& partials,
                           const char* variant) {
  const auto& pipe = ctx.pipelines().get(
      {.kernel = "reduce_sum", .bindings = 2, .push_size = sizeof(ReduceParams), .variant = variant});
  if (n * 4 > ctx.device().caps().max_storage_buffer_range)
    throw std::invalid_argument("reduce_sum: input larger than one storage binding");
  const uint32_t groups = reduce_partials(n);
  ReduceParams p{static_cast<uint32_t>(n), kReducePerGroup};
  seq.dispatch(pipe, {{x.range(0, std::max<uint64_t>(4, n * 4)), Access::read},
                      {partials.range(0, groups * 4ull), Access::write}},
               &p, groups);
  return groups;
}

uint32_t record_scale_add_u32(Context& ctx, Sequence& seq, const Buffer& x, const Buffer& y, uint64_t n,
                              uint32_t mul, uint32_t add) {
  const auto& caps = ctx.device().caps();
  const auto& pipe = ctx.pipelines().get({.kernel = "scale_add_u32", .bindings = 2, .push_size = sizeof(ScaleAddParams)});
  // Each piece is bound separately: the largest multiple of the offset alignment and of the
  // workgroup's bytes that fits one binding.
  const uint64_t align = std::max<uint64_t>({caps.storage_buffer_alignment, 4, kScaleAddGroup * 4});
  const uint64_t piece_bytes = caps.max_storage_buffer_range / align * align;
  const uint64_t piece_words = piece_bytes / 4;
  uint32_t dispatches = 0;
  for (uint64_t start = 0; start < n; start += piece_words) {
    const uint64_t words = std::min(piece_words, n - start);
    const uint64_t groups = (words + kScaleAddGroup - 1) / kScaleAddGroup;
    const uint32_t gx = static_cast<uint32_t>(std::min<uint64_t>(groups, caps.max_workgroup_count[0]));
    const uint32_t gy = static_cast<uint32_t>((groups + gx - 1) / gx);
    ScaleAddParams p{static_cast<uint32_t>(words), mul, add, 0};
    seq.dispatch(pipe, {{x.range(start * 4, words * 4), Access::read}, {y.range(start * 4, words * 4), Access::write}},
                 &p, gx, gy);
    ++dispatches;
  }
  return dispatches;
}

}  // namespace vkmoe
