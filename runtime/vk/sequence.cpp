#include "runtime/vk/sequence.h"

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "runtime/util/parse_number.h"
#include "runtime/vk/caps.h"
#include "runtime/vk/check.h"
#include "runtime/vk/device.h"
#include "runtime/vk/pipeline.h"

namespace vkmoe {

uint64_t fence_timeout_seconds() {
  // At most ~31 years, so the nanoseconds fit 64 bits; 0 or text is an error, not "no wait".
  return static_cast<uint64_t>(env_int("VKMOE_FENCE_TIMEOUT_S", 600, 1, 1000000000));
}

namespace {
constexpr uint32_t kSetsPerPool = 256;
constexpr uint32_t kMaxBindings = 16;

bool overlaps(const BufferRange& a, const BufferRange& b) {
  return a.buffer == b.buffer && a.offset < b.offset + b.size && b.offset < a.offset + a.size;
}
bool writes(Access a) { return a != Access::read; }

// Milliseconds between two timestamps, within the counter's valid bits.
double ticks_ms(const DeviceCaps& caps, uint64_t begin, uint64_t end) {
  const uint64_t mask = caps.timestamp_valid_bits >= 64 ? ~0ull : (1ull << caps.timestamp_valid_bits) - 1;
  return ((end - begin) & mask) * caps.timestamp_period_ns * 1e-6;
}
}  // namespace

Sequence::Sequence(Device& device, SequenceOptions options) : device_(device), options_(options) {
  VkDevice dev = device.get();
  VkCommandPoolCreateInfo pi{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pi.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pi.queueFamilyIndex = device.queue_family();
  VkCommandPool pool;
  VK_CHECK(vkCreateCommandPool(dev, &pi, nullptr, &pool));
  pool_ = CommandPoolHandle(dev, pool);

  VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  ai.commandPool = pool;
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  VK_CHECK(vkAllocateCommandBuffers(dev, &ai, &cmd_));
  device.set_name(VK_OBJECT_TYPE_COMMAND_BUFFER, reinterpret_cast<uint64_t>(cmd_), options.name);

  VkFenceCreateInfo fi{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  VkFence fence;
  VK_CHECK(vkCreateFence(dev, &fi, nullptr, &fence));
  fence_ = FenceHandle(dev, fence);

  if (options_.timestamps || options_.span) {
    if (!device.features().timestamps)
      throw std::runtime_error(device.caps().name + " has no timestamp queries on its compute queue");
    VkQueryPoolCreateInfo qi{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
    qi.queryType = VK_QUERY_TYPE_TIMESTAMP;
    qi.queryCount = 2 * options_.max_timed + 2;  // the last pair: the span
    VkQueryPool qp;
    VK_CHECK(vkCreateQueryPool(dev, &qi, nullptr, &qp));
    queries_ = QueryPoolHandle(dev, qp);
  }
}

Sequence::~Sequence() {
  if (state_ == State::submitted) {
    // Never free a command buffer the GPU may still be reading (destructor: no throwing).
    VkFence fence = fence_.get();
    // A destructor cannot throw: the failure is reported, not lost.
    if (VkResult r = vkWaitForFences(device_.get(), 1, &fence, VK_TRUE, UINT64_MAX); r != VK_SUCCESS)
      std::fprintf(stderr, "vkmoe: vkWaitForFences in ~Sequence failed: %s\n", vk_result_name(r));
  }
}

void Sequence::begin_if_needed() {
  if (state_ == State::submitted)
    throw std::logic_error("sequence: record after submit without wait()/reset()");
  if (state_ == State::recording) return;
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  VK_CHECK(vkBeginCommandBuffer(cmd_, &bi));
  if (queries_) vkCmdResetQueryPool(cmd_, queries_.get(), 0, 2 * options_.max_timed + 2);
  if (options_.span) vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_.get(), 2 * options_.max_timed);
  dispatches_ = barriers_ = 0;  // counts describe the latest recording
  state_ = State::recording;
}

void Sequence::barrier() {
  begin_if_needed();
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                     VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  const VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
  vkCmdPipelineBarrier(cmd_, stages, stages, 0, 1, &mb, 0, nullptr, 0, nullptr);
  pending_.clear();
  ++barriers_;
}

void Sequence::track(std::span<const Binding> bindings) {
  bool conflict = false;
  for (const auto& b : bindings)
    for (const auto& p : pending_)
      if (overlaps(b.range, p.range) && (writes(b.access) || writes(p.access))) conflict = true;
  if (conflict) barrier();
  pending_.insert(pending_.end(), bindings.begin(), bindings.end());
}

VkDescriptorSet Sequence::allocate_set(VkDescriptorSetLayout layout, uint32_t bindings) {
  VkDevice dev = device_.get();
  if (descriptor_pools_.empty() || sets_in_last_pool_ == kSetsPerPool) {
    VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kSetsPerPool * kMaxBindings};
    VkDescriptorPoolCreateInfo pi{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
    pi.maxSets = kSetsPerPool;
    pi.poolSizeCount = 1;
    pi.pPoolSizes = &size;
    VkDescriptorPool pool;
    VK_CHECK(vkCreateDescriptorPool(dev, &pi, nullptr, &pool));
    descriptor_pools_.emplace_back(dev, pool);
    sets_in_last_pool_ = 0;
  }
  (void)bindings;
  VkDescriptorSetAllocateInfo ai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
  ai.descriptorPool = descriptor_pools_.back().get();
  ai.descriptorSetCount = 1;
  ai.pSetLayouts = &layout;
  VkDescriptorSet set;
  VK_CHECK(vkAllocateDescriptorSets(dev, &ai, &set));
  ++sets_in_last_pool_;
  return set;
}

void Sequence::dispatch(const Pipeline& pipeline, std::span<const Binding> bindings, const void* push,
                        uint32_t gx, uint32_t gy, uint32_t gz, std::string_view label) {
  const auto& caps = device_.caps();
  const std::string name = label.empty() ? pipeline.variant : std::string(label);
  if (bindings.size() != pipeline.bindings || bindings.size() > kMaxBindings)
    throw std::invalid_argument(name + ": " + std::to_string(bindings.size()) + " bindings given, the pipeline has " +
                                std::to_string(pipeline.bindings));
  for (size_t i = 0; i < bindings.size(); ++i) {
    const auto& r = bindings[i].range;
    if (r.size == 0 || r.size > caps.max_storage_buffer_range)
      throw std::invalid_argument(name + ": binding " + std::to_string(i) + " covers " + format_bytes(r.size) +
                                  "; one storage binding may cover 1 B to " +
                                  format_bytes(caps.max_storage_buffer_range) + " on " + caps.name +
                                  " (split the data)");
    if (caps.storage_buffer_alignment && r.offset % caps.storage_buffer_alignment)
      throw std::invalid_argument(name + ": binding " + std::to_string(i) + " offset " + std::to_string(r.offset) +
                                  " is not a multiple of minStorageBufferOffsetAlignment (" +
                                  std::to_string(caps.storage_buffer_alignment) + ")");
  }
  for (int d = 0; d < 3; ++d) {
    uint32_t g = d == 0 ? gx : d == 1 ? gy : gz;
    if (g > caps.max_workgroup_count[d])
      throw std::invalid_argument(name + ": " + std::to_string(g) + " workgroups in dimension " +
                                  std::to_string(d) + " exceed the device limit " +
                                  std::to_string(caps.max_workgroup_count[d]));
  }
  if (gx == 0 || gy == 0 || gz == 0) return;  // nothing to do, and no barrier needed

  begin_if_needed();
  track(bindings);

  VkDescriptorBufferInfo infos[kMaxBindings];
  VkWriteDescriptorSet writes_[kMaxBindings];
  for (uint32_t i = 0; i < bindings.size(); ++i) {
    infos[i] = {bindings[i].range.buffer, bindings[i].range.offset, bindings[i].range.size};
    writes_[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
    writes_[i].dstBinding = i;
    writes_[i].descriptorCount = 1;
    writes_[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes_[i].pBufferInfo = &infos[i];
  }
  vkCmdBindPipeline(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.pipeline.get());
  if (pipeline.push_descriptors) {
    device_.cmd_push_descriptor_set(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.layout.get(), 0,
                                    static_cast<uint32_t>(bindings.size()), writes_);
  } else {
    VkDescriptorSet set = allocate_set(pipeline.set_layout.get(), pipeline.bindings);
    for (uint32_t i = 0; i < bindings.size(); ++i) writes_[i].dstSet = set;
    vkUpdateDescriptorSets(device_.get(), static_cast<uint32_t>(bindings.size()), writes_, 0, nullptr);
    vkCmdBindDescriptorSets(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.layout.get(), 0, 1, &set, 0, nullptr);
  }
  if (pipeline.push_size)
    vkCmdPushConstants(cmd_, pipeline.layout.get(), VK_SHADER_STAGE_COMPUTE_BIT, 0, pipeline.push_size, push);

  const bool timed = options_.timestamps && labels_.size() < options_.max_timed;
  const uint32_t q = static_cast<uint32_t>(labels_.size()) * 2;
  if (timed) vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_.get(), q);
  vkCmdDispatch(cmd_, gx, gy, gz);
  if (timed) {
    vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_.get(), q + 1);
    labels_.push_back(name);
  }
  ++dispatches_;
}

void Sequence::copy(BufferRange src, BufferRange dst) {
  if (src.size != dst.size) throw std::invalid_argument("sequence copy: source and destination sizes differ");
  if (src.size == 0) return;
  begin_if_needed();
  Binding b[2] = {{src, Access::read}, {dst, Access::write}};
  track(b);
  VkBufferCopy region{src.offset, dst.offset, src.size};
  vkCmdCopyBuffer(cmd_, src.buffer, dst.buffer, 1, &region);
}

void Sequence::fill(BufferRange dst, uint32_t value) {
  if (dst.size == 0) return;
  if (dst.size % 4 || dst.offset % 4) throw std::invalid_argument("sequence fill: offset and size must be multiples of 4");
  begin_if_needed();
  Binding b[1] = {{dst, Access::write}};
  track(b);
  vkCmdFillBuffer(cmd_, dst.buffer, dst.offset, dst.size, value);
}

void Sequence::submit() {
  begin_if_needed();
  // Make every write visible to the host once the fence signals.
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  vkCmdPipelineBarrier(cmd_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                       VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, nullptr, 0, nullptr);
  if (options_.span)
    vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_.get(), 2 * options_.max_timed + 1);
  VK_CHECK(vkEndCommandBuffer(cmd_));
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cmd_;
  device_.submit(si, fence_.get());
  state_ = State::submitted;
}

void Sequence::wait() {
  if (state_ != State::submitted) throw std::logic_error("sequence: wait() without submit()");
  const uint64_t seconds = fence_timeout_seconds();
  VkFence fence = fence_.get();
  VkResult r = vkWaitForFences(device_.get(), 1, &fence, VK_TRUE, seconds * 1000000000ull);
  if (r == VK_TIMEOUT)
    throw std::runtime_error("GPU work '" + std::string(options_.name) + "' did not finish within " +
                             std::to_string(seconds) + " s (VKMOE_FENCE_TIMEOUT_S)");
  VK_CHECK(r);
  timings_.clear();
  if (options_.span) span_ms_ = read_span_ms();
  if (queries_ && !labels_.empty()) {
    std::vector<uint64_t> ticks(labels_.size() * 2);
    VK_CHECK(vkGetQueryPoolResults(device_.get(), queries_.get(), 0, static_cast<uint32_t>(ticks.size()),
                                   ticks.size() * sizeof(uint64_t), ticks.data(), sizeof(uint64_t),
                                   VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT));
    for (size_t i = 0; i < labels_.size(); ++i)
      timings_.push_back({labels_[i], ticks_ms(device_.caps(), ticks[2 * i], ticks[2 * i + 1])});
  }
  reset();
}

double Sequence::read_span_ms() const {
  uint64_t ticks[2];
  VK_CHECK(vkGetQueryPoolResults(device_.get(), queries_.get(), 2 * options_.max_timed, 2, sizeof ticks, ticks,
                                 sizeof(uint64_t), VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT));
  return ticks_ms(device_.caps(), ticks[0], ticks[1]);
}

void Sequence::reset() {
  if (state_ == State::submitted) {
    VkFence fence = fence_.get();
    VK_CHECK(vkWaitForFences(device_.get(), 1, &fence, VK_TRUE, UINT64_MAX));
  }
  VkFence fence = fence_.get();
  VK_CHECK(vkResetFences(device_.get(), 1, &fence));
  VK_CHECK(vkResetCommandBuffer(cmd_, 0));
  for (auto& p : descriptor_pools_) VK_CHECK(vkResetDescriptorPool(device_.get(), p.get(), 0));
  if (descriptor_pools_.size() > 1) descriptor_pools_.resize(1);
  sets_in_last_pool_ = 0;
  pending_.clear();
  labels_.clear();
  state_ = State::idle;
}

}  // namespace vkmoe
