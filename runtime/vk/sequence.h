// Records a sequence of dispatches and copies into one command buffer, inserting a barrier
// exactly where a command touches bytes an earlier one wrote (or overwrites bytes an earlier
// one read), with optional timestamps around each dispatch. One submit, one fence.
#pragma once
#include <vulkan/vulkan.h>

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/vk/handle.h"
#include "runtime/vk/memory.h"

namespace vkmoe {

// VKMOE_FENCE_TIMEOUT_S checked (default 600); throws naming the variable on bad input.
uint64_t fence_timeout_seconds();

class Device;
struct Pipeline;

enum class Access : uint8_t { read, write, read_write };

struct Binding {
  BufferRange range;
  Access access = Access::read;
};

struct DispatchTiming {
  std::string label;
  double ms = 0;  // GPU time between the timestamps around the command
};

struct SequenceOptions {
  bool timestamps = false;   // write a timestamp pair around every dispatch
  uint32_t max_timed = 4096; // dispatches that can be timed per recording
  bool span = false;         // one timestamp pair around the whole recording (span_ms()): times
                             // copies, barriers and gaps too, without a timestamp per dispatch
  const char* name = "sequence";
};

class Sequence {
 public:
  explicit Sequence(Device& device, SequenceOptions options = {});
  ~Sequence();
  Sequence(const Sequence&) = delete;
  Sequence& operator=(const Sequence&) = delete;

  // Bindings go to 0..n-1 in order; each range must fit one storage binding
  // (maxStorageBufferRange) and respect minStorageBufferOffsetAlignment, else this throws.
  void dispatch(const Pipeline& pipeline, std::span<const Binding> bindings, const void* push,
                uint32_t groups_x, uint32_t groups_y = 1, uint32_t groups_z = 1,
                std::string_view label = {});
  void dispatch(const Pipeline& pipeline, std::initializer_list<Binding> bindings, const void* push,
                uint32_t groups_x, uint32_t groups_y = 1, uint32_t groups_z = 1,
                std::string_view label = {}) {
    dispatch(pipeline, std::span<const Binding>(bindings.begin(), bindings.size()), push, groups_x,
             groups_y, groups_z, label);
  }
  void copy(BufferRange src, BufferRange dst);
  void fill(BufferRange dst, uint32_t value);  // size and offset multiples of 4
  void barrier();                              // full compute/transfer barrier

  void submit();
  // Waits for the fence (VKMOE_FENCE_TIMEOUT_S, default 600 s, then throws: never hangs).
  void wait();
  void run() {
    submit();
    wait();
  }
  // Discards the recording and its descriptor sets so the sequence can be recorded again.
  void reset();

  std::vector<DispatchTiming> timings() const { return timings_; }
  uint32_t dispatches() const { return dispatches_; }
  uint32_t barriers() const { return barriers_; }
  // GPU time from the start to the end of the last recording (SequenceOptions::span).
  double span_ms() const { return span_ms_; }

 private:
  void begin_if_needed();
  // Inserts a barrier if this command conflicts with what was recorded since the last one.
  void track(std::span<const Binding> bindings);
  VkDescriptorSet allocate_set(VkDescriptorSetLayout layout, uint32_t bindings);
  double read_span_ms() const;

  Device& device_;
  SequenceOptions options_;
  CommandPoolHandle pool_;
  VkCommandBuffer cmd_ = VK_NULL_HANDLE;
  FenceHandle fence_;
  QueryPoolHandle queries_;
  std::vector<DescriptorPoolHandle> descriptor_pools_;
  uint32_t sets_in_last_pool_ = 0;
  enum class State { idle, recording, submitted } state_ = State::idle;
  std::vector<Binding> pending_;  // accesses since the last barrier
  std::vector<std::string> labels_;
  std::vector<DispatchTiming> timings_;
  uint32_t dispatches_ = 0;
  uint32_t barriers_ = 0;
  double span_ms_ = 0;
};

}  // namespace vkmoe
