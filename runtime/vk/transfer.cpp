#include "runtime/vk/transfer.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "runtime/vk/sequence.h"

namespace vkmoe {

Transfer::Transfer(Device& device, Allocator& allocator, uint64_t chunk_bytes)
    : device_(device), allocator_(allocator), chunk_(chunk_bytes) {}

Transfer::~Transfer() = default;

static void check_range(const Buffer& b, uint64_t offset, uint64_t size, const char* what) {
  if (offset > b.size() || size > b.size() - offset)
    throw std::out_of_range(std::string(what) + " of " + std::to_string(size) + " bytes at offset " +
                            std::to_string(offset) + " runs past buffer '" + b.name() + "' (" +
                            std::to_string(b.size()) + " bytes)");
}

void Transfer::upload(const Buffer& dst, uint64_t dst_offset, const void* src, uint64_t size) {
  check_range(dst, dst_offset, size, "upload");
  if (size == 0) return;
  if (dst.mapped() && !force_staging) {
    std::memcpy(dst.mapped() + dst_offset, src, size);
    dst.flush(dst_offset, size);
    return;
  }
  if (!staging_[0]) {
    for (int i = 0; i < 2; ++i) {
      staging_[i] = allocator_.create_buffer(chunk_, MemoryUse::upload, "staging " + std::to_string(i));
      sequence_[i] = std::make_unique<Sequence>(device_, SequenceOptions{.name = "transfer"});
    }
  }
  bool busy[2] = {false, false};
  const auto* bytes = static_cast<const uint8_t*>(src);
  for (uint64_t done = 0, i = 0; done < size; done += chunk_, ++i) {
    const int slot = static_cast<int>(i % 2);
    if (busy[slot]) sequence_[slot]->wait();  // the copy that last used this buffer is done
    const uint64_t n = std::min(chunk_, size - done);
    std::memcpy(staging_[slot].mapped(), bytes + done, n);
    staging_[slot].flush(0, n);
    sequence_[slot]->copy(staging_[slot].range(0, n), dst.range(dst_offset + done, n));
    sequence_[slot]->submit();
    busy[slot] = true;
    staged_bytes_ += n;
  }
  for (int s = 0; s < 2; ++s)
    if (busy[s]) sequence_[s]->wait();
}

void Transfer::download(const Buffer& src, uint64_t src_offset, void* dst, uint64_t size) {
  check_range(src, src_offset, size, "download");
  if (size == 0) return;
  if (src.mapped() && !force_staging) {
    src.invalidate(src_offset, size);
    std::memcpy(dst, src.mapped() + src_offset, size);
    return;
  }
  if (!staging_[0]) {
    for (int i = 0; i < 2; ++i) {
      staging_[i] = allocator_.create_buffer(chunk_, MemoryUse::upload, "staging " + std::to_string(i));
      sequence_[i] = std::make_unique<Sequence>(device_, SequenceOptions{.name = "transfer"});
    }
  }
  auto* bytes = static_cast<uint8_t*>(dst);
  // Two chunks in flight: the GPU copies chunk i+1 while the CPU reads chunk i.
  const uint64_t chunks = (size + chunk_ - 1) / chunk_;
  auto start = [&](uint64_t i) {
    const int slot = static_cast<int>(i % 2);
    const uint64_t off = i * chunk_, n = std::min(chunk_, size - off);
    sequence_[slot]->copy(src.range(src_offset + off, n), staging_[slot].range(0, n));
    sequence_[slot]->submit();
  };
  start(0);
  for (uint64_t i = 0; i < chunks; ++i) {
    if (i + 1 < chunks) start(i + 1);
    const int slot = static_cast<int>(i % 2);
    sequence_[slot]->wait();
    const uint64_t off = i * chunk_, n = std::min(chunk_, size - off);
    staging_[slot].invalidate(0, n);
    std::memcpy(bytes + off, staging_[slot].mapped(), n);
    staged_bytes_ += n;
  }
}

}  // namespace vkmoe
