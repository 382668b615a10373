#include "runtime/memory/tally.h"

#include "runtime/vk/context.h"

namespace vkmoe {

Buffer MemoryTally::allocate(const LayoutBuffer& b, MemoryUse use, const std::string& suffix) {
  return allocate(b.bytes, use, b.name + suffix, b.category);
}

Buffer MemoryTally::allocate(uint64_t bytes, MemoryUse use, const std::string& name, MemoryCategory category) {
  if (bytes == 0) return Buffer{};
  const uint64_t before = used();
  Buffer buf = ctx_.allocator().create_buffer(bytes, use, name);
  add(category, used() - before);
  return buf;
}

uint64_t MemoryTally::used() const { return ctx_.allocator().stats().used; }

}  // namespace vkmoe
