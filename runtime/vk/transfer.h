// Moves bytes between host memory and buffers. Host-visible buffers (UMA devices, lavapipe,
// resizable BAR) are written directly; others go through a ring of two staging buffers so the
// CPU fills one chunk while the GPU copies the previous one.
#pragma once
#include <cstdint>
#include <memory>

#include "runtime/vk/memory.h"

namespace vkmoe {

class Device;
class Allocator;
class Sequence;

class Transfer {
 public:
  Transfer(Device& device, Allocator& allocator, uint64_t chunk_bytes = 16ull << 20);
  ~Transfer();
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;

  void upload(const Buffer& dst, uint64_t dst_offset, const void* src, uint64_t size);
  void download(const Buffer& src, uint64_t src_offset, void* dst, uint64_t size);

  // Tests set this to exercise the staging path on devices where everything is host-visible.
  bool force_staging = false;
  uint64_t staged_bytes() const { return staged_bytes_; }
  uint64_t chunk_bytes() const { return chunk_; }
  // Bytes of the staging ring, made on the first upload to memory the CPU cannot map (else 0).
  uint64_t staging_bytes() const { return staging_[0].size() + staging_[1].size(); }

 private:
  Device& device_;
  Allocator& allocator_;
  uint64_t chunk_;
  Buffer staging_[2];
  std::unique_ptr<Sequence> sequence_[2];
  uint64_t staged_bytes_ = 0;
};

}  // namespace vkmoe
