// Small general kernels: a float reduction and a uint32 transform over data of any size
// (split into bindings no larger than the device's maxStorageBufferRange).
#pragma once
#include <cstdint>

#include "runtime/vk/memory.h"

namespace vkmoe {

class Context;
class Sequence;

// Records partial sums of x[0..n) into `partials` (one float per workgroup); returns the number
// of partials written. partials must hold reduce_partials(n) floats.
uint32_t record_reduce_sum(Context& ctx, Sequence& seq, const Buffer& x, uint64_t n, const Buffer& partials,
                           const char* variant = "");
uint32_t reduce_partials(uint64_t n);

// y[i] = x[i] * mul + add for n words, in as many dispatches as the binding limit requires.
// Returns the number of dispatches recorded.
uint32_t record_scale_add_u32(Context& ctx, Sequence& seq, const Buffer& x, const Buffer& y, uint64_t n,
                              uint32_t mul, uint32_t add);

}  // namespace vkmoe
