// A device buffer for kernel tests: filled from host data or left for poisoning, read back as floats.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "runtime/kernels/transformer_ops.h"
#include "runtime/quant/half.h"
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


inline std::vector<uint32_t> consecutive(uint32_t n, uint32_t first) {
  std::vector<uint32_t> v(n);
  for (uint32_t i = 0; i < n; ++i) v[i] = first + i;
  return v;
}

inline float round_f16(float f) { return f16_to_f32(f32_to_f16(f)); }

struct AttnCase {
  uint32_t heads, kv_heads, head_dim, n_ctx;
  uint32_t v_head_dim = 0;  // 0 = head_dim
  uint32_t dv() const { return v_head_dim ? v_head_dim : head_dim; }
};

// A layer's cache on the GPU, and its f16-rounded copy on the CPU.
struct TestCache {
  AttnCase c;
  GpuBuf k, v;
  std::vector<float> k_host, v_host;  // [n_ctx, kv_heads * head width], rounded as stored
  TestCache(Context& ctx, AttnCase c_)
      : c(c_),
        k(ctx, kv_cache_bytes(c.n_ctx, c.kv_heads, c.head_dim) / 4),
        v(ctx, kv_cache_bytes(c.n_ctx, c.kv_heads, c.dv()) / 4),
        k_host(size_t(c.n_ctx) * c.kv_heads * c.head_dim, 0.0f),
        v_host(size_t(c.n_ctx) * c.kv_heads * c.dv(), 0.0f) {
    Sequence seq(ctx.device());
    seq.fill(k.range(), 0);  // rows never stored read as 0, as on the host
    seq.fill(v.range(), 0);
    seq.run();
  }
  KvCacheLayer layer() const { return {k.range(), v.range(), c.n_ctx, c.kv_heads, c.head_dim, c.v_head_dim}; }
  // Stores `tokens` fresh random rows at pos.. through kv_store.
  void store(Context& ctx, uint32_t pos, uint32_t tokens) {
    const uint32_t k_row = c.kv_heads * c.head_dim, v_row = c.kv_heads * c.dv();
    auto kn = random_floats(size_t(tokens) * k_row), vn = random_floats(size_t(tokens) * v_row);
    auto p = consecutive(tokens, pos);
    GpuBuf kb(ctx, kn), vb(ctx, vn), pb(ctx, p);
    Sequence seq(ctx.device());
    record_kv_store(ctx, seq, layer(), {.tokens = tokens}, kb.range(), vb.range(), pb.range());
    seq.run();
    for (size_t i = 0; i < kn.size(); ++i) k_host[size_t(pos) * k_row + i] = round_f16(kn[i]);
    for (size_t i = 0; i < vn.size(); ++i) v_host[size_t(pos) * v_row + i] = round_f16(vn[i]);
  }
};


}  // namespace vkmoe::test
