// Buffers sub-allocated from a few large VkDeviceMemory blocks (never one allocation per
// tensor). Each Buffer still has its own VkBuffer so validation can check every range.
#pragma once
#include <vulkan/vulkan.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/vk/handle.h"

namespace vkmoe {

class Device;
class Allocator;

enum class MemoryUse {
  device,    // weights, activations: device-local
  upload,    // staging for uploads: host-visible, coherent, written sequentially
  readback,  // results read by the CPU: host-visible, cached where possible
  spill,     // weights that do not fit the device: host-visible system memory the GPU reads
};

// A byte range of a buffer as bound to one descriptor.
struct BufferRange {
  VkBuffer buffer = VK_NULL_HANDLE;
  uint64_t offset = 0;
  uint64_t size = 0;
};

class Buffer {
 public:
  Buffer() = default;
  ~Buffer();
  Buffer(Buffer&& o) noexcept;
  Buffer& operator=(Buffer&& o) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  VkBuffer get() const { return buffer_.get(); }
  uint64_t size() const { return size_; }
  const std::string& name() const { return name_; }
  explicit operator bool() const { return static_cast<bool>(buffer_); }

  // Non-null when the memory is host-visible (always for upload/readback; on UMA devices and
  // lavapipe for device memory too).
  uint8_t* mapped() const { return mapped_; }
  bool coherent() const { return coherent_; }
  // For non-coherent host-visible memory; no-ops otherwise.
  void flush(uint64_t offset, uint64_t size) const;
  void invalidate(uint64_t offset, uint64_t size) const;

  // Throws when the range runs past the end of the buffer.
  BufferRange range(uint64_t offset = 0, uint64_t size = UINT64_MAX) const;

  // Where the bytes live, for accounting: block index and offset inside it.
  uint32_t block() const { return block_; }
  uint64_t block_offset() const { return offset_; }

 private:
  friend class Allocator;
  void release();
  Allocator* owner_ = nullptr;
  BufferHandle buffer_;
  uint32_t block_ = 0;
  uint64_t offset_ = 0;      // in the block
  uint64_t allocated_ = 0;   // bytes taken from the block (>= size_)
  uint64_t size_ = 0;
  uint8_t* mapped_ = nullptr;
  bool coherent_ = true;
  std::string name_;
};

struct AllocatorStats {
  struct Block {
    uint32_t memory_type;
    uint64_t size;
    uint64_t used;
    bool host_visible;
  };
  std::vector<Block> blocks;
  uint64_t reserved = 0;  // sum of VkDeviceMemory sizes
  uint64_t used = 0;      // sum of live sub-allocations
};

class Allocator {
 public:
  // block_size: the size of each VkDeviceMemory block (clamped to the device's
  // maxMemoryAllocationSize); larger buffers get a block of their own.
  explicit Allocator(Device& device, uint64_t block_size = 256ull << 20);
  ~Allocator();
  Allocator(const Allocator&) = delete;
  Allocator& operator=(const Allocator&) = delete;

  Buffer create_buffer(uint64_t size, MemoryUse use, std::string name);
  AllocatorStats stats() const;
  Device& device() const { return device_; }

  // The memory type chosen for a use (for planning and tests).
  uint32_t memory_type_for(MemoryUse use, uint32_t allowed_bits) const;

 private:
  friend class Buffer;
  struct Block {
    MemoryHandle memory;
    uint32_t type = 0;
    uint64_t size = 0;
    uint64_t used = 0;
    uint8_t* mapped = nullptr;
    bool dedicated = false;
    std::map<uint64_t, uint64_t> free;  // offset -> size, coalesced on release
  };
  void release(uint32_t block, uint64_t offset, uint64_t size);
  uint32_t new_block(uint32_t type, uint64_t size, bool dedicated, const std::string& why);

  Device& device_;
  uint64_t block_size_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Block>> blocks_;
};

}  // namespace vkmoe
