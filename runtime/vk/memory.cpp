#include "runtime/vk/memory.h"

#include <algorithm>
#include <stdexcept>

#include "runtime/vk/caps.h"
#include "runtime/vk/check.h"
#include "runtime/vk/device.h"

namespace vkmoe {

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

Buffer::~Buffer() { release(); }

Buffer::Buffer(Buffer&& o) noexcept { *this = std::move(o); }

Buffer& Buffer::operator=(Buffer&& o) noexcept {
  if (this != &o) {
    release();
    owner_ = std::exchange(o.owner_, nullptr);
    buffer_ = std::move(o.buffer_);
    block_ = o.block_;
    offset_ = o.offset_;
    allocated_ = std::exchange(o.allocated_, 0);
    size_ = std::exchange(o.size_, 0);
    mapped_ = std::exchange(o.mapped_, nullptr);
    coherent_ = o.coherent_;
    name_ = std::move(o.name_);
  }
  return *this;
}

void Buffer::release() {
  buffer_.reset();
  if (owner_) owner_->release(block_, offset_, allocated_);
  owner_ = nullptr;
  mapped_ = nullptr;
  size_ = allocated_ = 0;
}

BufferRange Buffer::range(uint64_t offset, uint64_t size) const {
  if (size == UINT64_MAX) size = offset <= size_ ? size_ - offset : 0;
  if (offset > size_ || size > size_ - offset)
    throw std::out_of_range("buffer '" + name_ + "': range [" + std::to_string(offset) + ", +" +
                            std::to_string(size) + ") exceeds its " + std::to_string(size_) + " bytes");
  return {buffer_.get(), offset, size};
}

static VkMappedMemoryRange mapped_range(const Allocator& a, VkDeviceMemory mem, uint64_t base,
                                        uint64_t offset, uint64_t size, uint64_t block_size) {
  uint64_t atom = std::max<uint64_t>(1, a.device().caps().non_coherent_atom_size);
  uint64_t begin = (base + offset) / atom * atom;
  uint64_t end = std::min(block_size, align_up(base + offset + size, atom));
  VkMappedMemoryRange r{VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE};
  r.memory = mem;
  r.offset = begin;
  r.size = end - begin;
  return r;
}

void Buffer::flush(uint64_t offset, uint64_t size) const {
  if (coherent_ || !mapped_ || !owner_) return;
  const auto& b = *owner_->blocks_[block_];
  auto r = mapped_range(*owner_, b.memory.get(), offset_, offset, size, b.size);
  VK_CHECK(vkFlushMappedMemoryRanges(owner_->device_.get(), 1, &r));
}

void Buffer::invalidate(uint64_t offset, uint64_t size) const {
  if (coherent_ || !mapped_ || !owner_) return;
  const auto& b = *owner_->blocks_[block_];
  auto r = mapped_range(*owner_, b.memory.get(), offset_, offset, size, b.size);
  VK_CHECK(vkInvalidateMappedMemoryRanges(owner_->device_.get(), 1, &r));
}

Allocator::Allocator(Device& device, uint64_t block_size) : device_(device) {
  uint64_t max_alloc = device.caps().max_memory_allocation_size;
  block_size_ = max_alloc ? std::min(block_size, max_alloc) : block_size;
}

Allocator::~Allocator() = default;

uint32_t Allocator::memory_type_for(MemoryUse use, uint32_t allowed) const {
  const auto& types = device_.caps().memory_types;
  VkMemoryPropertyFlags required = 0, preferred = 0, avoided = 0;
  switch (use) {
    case MemoryUse::device:
      preferred = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
      break;
    case MemoryUse::upload:
      required = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
      avoided = VK_MEMORY_PROPERTY_HOST_CACHED_BIT;  // write-combined is best for streaming
      break;
    case MemoryUse::readback:
      required = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT;
      preferred = VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
      break;
    case MemoryUse::spill:
      required = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT;
      avoided = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;  // system RAM, not the BAR window
      break;
  }
  int best = -1, best_score = -1;
  for (uint32_t i = 0; i < types.size(); ++i) {
    if (!(allowed & (1u << i)) || (types[i].flags & required) != required) continue;
    int score = ((types[i].flags & preferred) == preferred ? 2 : 0) + (types[i].flags & avoided ? 0 : 1);
    if (score > best_score) best = static_cast<int>(i), best_score = score;
  }
  if (best < 0)
    throw std::runtime_error(std::string("no memory type on ") + device_.caps().name +
                             " suits " + (use == MemoryUse::device ? "device" : use == MemoryUse::upload ? "upload" : use == MemoryUse::spill ? "spill" : "readback") +
                             " buffers");
  return static_cast<uint32_t>(best);
}

uint32_t Allocator::new_block(uint32_t type, uint64_t size, bool dedicated, const std::string& why) {
  VkMemoryAllocateInfo info{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  info.allocationSize = size;
  info.memoryTypeIndex = type;
  VkDeviceMemory mem = VK_NULL_HANDLE;
  VkResult r = vkAllocateMemory(device_.get(), &info, nullptr, &mem);
  if (r != VK_SUCCESS)
    throw VkError("vkAllocateMemory(" + format_bytes(size) + ", memory type " + std::to_string(type) +
                      ") for " + why,
                  r, __FILE__, __LINE__);
  auto block = std::make_unique<Block>();
  block->memory = MemoryHandle(device_.get(), mem);
  block->type = type;
  block->size = size;
  block->dedicated = dedicated;
  block->free[0] = size;
  if (device_.caps().memory_types[type].flags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
    void* p = nullptr;
    VK_CHECK(vkMapMemory(device_.get(), mem, 0, VK_WHOLE_SIZE, 0, &p));
    block->mapped = static_cast<uint8_t*>(p);
  }
  std::string name = "vkmoe block " + std::to_string(blocks_.size()) + " (" + why + ")";
  device_.set_name(VK_OBJECT_TYPE_DEVICE_MEMORY, reinterpret_cast<uint64_t>(mem), name.c_str());
  // Reuse a slot freed by a dedicated block, so block indices stay small.
  for (uint32_t i = 0; i < blocks_.size(); ++i)
    if (!blocks_[i]) {
      blocks_[i] = std::move(block);
      return i;
    }
  blocks_.push_back(std::move(block));
  return static_cast<uint32_t>(blocks_.size() - 1);
}

Buffer Allocator::create_buffer(uint64_t size, MemoryUse use, std::string name) {
  if (size == 0) size = 4;  // Vulkan forbids empty buffers; a 4-byte one keeps callers simple
  const uint64_t max_alloc = device_.caps().max_memory_allocation_size;
  if (max_alloc && size > max_alloc)
    throw std::runtime_error("buffer '" + name + "' needs " + format_bytes(size) +
                             " but " + device_.caps().name + " allows at most " +
                             format_bytes(max_alloc) + " in one allocation; it must be split");

  VkBufferCreateInfo info{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  info.size = size;
  info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
               VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  VkBuffer raw = VK_NULL_HANDLE;
  VK_CHECK(vkCreateBuffer(device_.get(), &info, nullptr, &raw));
  Buffer buf;
  buf.buffer_ = BufferHandle(device_.get(), raw);
  device_.set_name(VK_OBJECT_TYPE_BUFFER, reinterpret_cast<uint64_t>(raw), name.c_str());

  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(device_.get(), raw, &req);
  const uint32_t type = memory_type_for(use, req.memoryTypeBits);
  const uint64_t align = std::max<uint64_t>(req.alignment, device_.caps().non_coherent_atom_size);
  const uint64_t need = align_up(req.size, align);

  std::lock_guard lock(mutex_);
  uint32_t block_index = UINT32_MAX;
  uint64_t offset = 0;
  for (uint32_t i = 0; i < blocks_.size() && block_index == UINT32_MAX; ++i) {
    auto* b = blocks_[i].get();
    if (!b || b->type != type || b->dedicated) continue;
    for (auto [off, len] : b->free) {
      uint64_t start = align_up(off, align);
      if (start + need <= off + len) {
        block_index = i;
        offset = start;
        break;
      }
    }
  }
  if (block_index == UINT32_MAX) {
    bool dedicated = need > block_size_;
    block_index = new_block(type, dedicated ? need : block_size_, dedicated, name);
    offset = 0;
  }
  Block& b = *blocks_[block_index];
  // Carve [offset, offset+need) out of the free extent that contains it.
  auto it = std::prev(b.free.upper_bound(offset));
  uint64_t ext_off = it->first, ext_len = it->second;
  b.free.erase(it);
  if (offset > ext_off) b.free[ext_off] = offset - ext_off;
  if (offset + need < ext_off + ext_len) b.free[offset + need] = ext_off + ext_len - offset - need;
  b.used += need;

  VK_CHECK(vkBindBufferMemory(device_.get(), raw, b.memory.get(), offset));
  buf.owner_ = this;
  buf.block_ = block_index;
  buf.offset_ = offset;
  buf.allocated_ = need;
  buf.size_ = size;
  buf.mapped_ = b.mapped ? b.mapped + offset : nullptr;
  buf.coherent_ = device_.caps().memory_types[type].flags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  buf.name_ = std::move(name);
  return buf;
}

void Allocator::release(uint32_t block, uint64_t offset, uint64_t size) {
  std::lock_guard lock(mutex_);
  auto& b = *blocks_[block];
  b.used -= size;
  auto [it, inserted] = b.free.emplace(offset, size);
  // Coalesce with the neighbours so large buffers can reuse the space.
  auto next = std::next(it);
  if (next != b.free.end() && it->first + it->second == next->first) {
    it->second += next->second;
    b.free.erase(next);
  }
  if (it != b.free.begin()) {
    auto prev = std::prev(it);
    if (prev->first + prev->second == it->first) {
      prev->second += it->second;
      b.free.erase(it);
    }
  }
  if (b.dedicated && b.used == 0) blocks_[block].reset();
}

AllocatorStats Allocator::stats() const {
  std::lock_guard lock(mutex_);
  AllocatorStats s;
  for (const auto& b : blocks_) {
    if (!b) continue;
    bool visible = b->mapped != nullptr;
    s.blocks.push_back({b->type, b->size, b->used, visible});
    s.reserved += b->size;
    s.used += b->used;
  }
  return s;
}

}  // namespace vkmoe
