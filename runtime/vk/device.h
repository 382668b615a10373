// A logical device on one physical device: its compute queue, and the optional features that
// exist there turned on and recorded, so kernels can choose variants.
#pragma once
#include <vulkan/vulkan.h>

#include <mutex>
#include <string>
#include <string_view>

#include "runtime/vk/caps.h"

namespace vkmoe {

class Instance;

struct EnabledFeatures {
  bool fp16 = false;            // fp16 arithmetic in shaders
  bool int8 = false;            // int8 arithmetic in shaders
  bool int16 = false;
  bool storage16 = false;       // 16-bit storage buffer access
  bool storage8 = false;        // 8-bit storage buffer access
  bool subgroup_arith = false;  // subgroup basic+arithmetic in compute
  bool subgroup_shuffle = false;
  bool subgroup_size_control = false;
  bool push_descriptor = false;
  bool buffer_device_address = false;
  bool int_dot = false;
  bool coopmat = false;
  bool timestamps = false;
  bool memory_budget = false;

  // Names as they appear in shaders/variants.txt's "requires" column.
  bool has(std::string_view feature) const;
  // True when every comma-separated feature in `list` is on ("" is always true).
  bool has_all(std::string_view list) const;
  std::string describe() const;
};

class Device {
 public:
  Device(Instance& instance, const DeviceCaps& caps);
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  VkDevice get() const { return device_; }
  VkPhysicalDevice physical() const { return caps_.physical; }
  VkQueue queue() const { return queue_; }
  uint32_t queue_family() const { return caps_.compute_queue_family; }
  const DeviceCaps& caps() const { return caps_; }
  const EnabledFeatures& features() const { return features_; }
  // Lets tests force the portable path of every kernel.
  EnabledFeatures& mutable_features() { return features_; }
  Instance& instance() const { return instance_; }

  void set_name(VkObjectType type, uint64_t handle, const char* name) const;
  void submit(const VkSubmitInfo& info, VkFence fence);  // serialises queue access
  void wait_idle();

  PFN_vkCmdPushDescriptorSetKHR cmd_push_descriptor_set = nullptr;

 private:
  Instance& instance_;
  DeviceCaps caps_;
  EnabledFeatures features_;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  std::mutex queue_mutex_;
};

}  // namespace vkmoe
