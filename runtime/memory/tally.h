// What the allocator actually took for one model, per memory category (alignment included): the
// "allocated" column beside the plan's "planned" one (Model::memory_rows, plan_alloc_test).
#pragma once
#include <cstdint>
#include <string>

#include "runtime/memory/activation_layout.h"
#include "runtime/vk/memory.h"

namespace vkmoe {

class Context;

class MemoryTally {
 public:
  explicit MemoryTally(Context& ctx) : ctx_(ctx) {}
  // One layout buffer (none when its size is 0), counted under its category.
  Buffer allocate(const LayoutBuffer& b, MemoryUse use = MemoryUse::device, const std::string& suffix = "");
  Buffer allocate(uint64_t bytes, MemoryUse use, const std::string& name, MemoryCategory category);
  uint64_t used() const;  // the allocator's bytes in use now
  void add(MemoryCategory c, uint64_t bytes) { bytes_[static_cast<int>(c)] += bytes; }
  uint64_t bytes(MemoryCategory c) const { return bytes_[static_cast<int>(c)]; }

 private:
  Context& ctx_;
  uint64_t bytes_[kMemoryCategories] = {};
};

}  // namespace vkmoe
