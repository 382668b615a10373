// A device buffer for kernel tests: filled from host data or left for poisoning, read back as floats.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "runtime/vk/context.h"
#include "runtime/vk/sequence.h"
#include "tests/test_util.h"

namespace vkmoe::test {

struct GpuBuf {
  Buffer buffer;
  GpuBuf(Context& ctx, std::span<const float> data) : GpuBuf(ctx, data.data(), data.size_bytes()) {}
  GpuBuf(Context& ctx, std::span<const uint32_t> data) : GpuBuf(ctx, data.data(), data.size_bytes()) {}
  GpuBuf(Context& ctx, std::span<const uint8_t> data) : GpuBuf(ctx, data.data(), data.size_bytes()) {}
  // Room for n floats, contents undefined until poisoned or written.
  GpuBuf(Context& ctx, size_t n) : GpuBuf(ctx, nullptr, n * 4) {}
  GpuBuf(Context& ctx, const void* data, size_t bytes)
      : buffer(ctx.allocator().create_buffer(std::max<size_t>(bytes, 4), MemoryUse::device, "test")) {
    if (data && bytes) ctx.transfer().upload(buffer, 0, data, bytes);
  }
  BufferRange range(uint64_t offset = 0, uint64_t size = UINT64_MAX) const { return buffer.range(offset, size); }
  uint64_t bytes() const { return buffer.size(); }
  void poison(Sequence& seq) const { seq.fill(buffer.range(), kPoisonBits); }
  std::vector<float> floats(Context& ctx) const {
    std::vector<float> v(bytes() / 4);
    ctx.transfer().download(buffer, 0, v.data(), v.size() * 4);
    return v;
  }
};

}  // namespace vkmoe::test
