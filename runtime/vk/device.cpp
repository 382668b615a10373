#include "runtime/vk/device.h"

#include <cstdio>
#include <vector>

#include "runtime/vk/check.h"
#include "runtime/vk/instance.h"

namespace vkmoe {

bool EnabledFeatures::has(std::string_view f) const {
  if (f == "fp16") return fp16;
  if (f == "int8") return int8;
  if (f == "int16") return int16;
  if (f == "storage16") return storage16;
  if (f == "storage8") return storage8;
  if (f == "subgroup_arith") return subgroup_arith;
  if (f == "subgroup_shuffle") return subgroup_shuffle;
  if (f == "subgroup_size_control") return subgroup_size_control;
  if (f == "int_dot") return int_dot;
  if (f == "coopmat") return coopmat;
  if (f == "bda") return buffer_device_address;
  return false;  // unknown names never match: a typo in the table must not enable a variant
}

bool EnabledFeatures::has_all(std::string_view list) const {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view f = list.substr(0, comma);
    if (!f.empty() && !has(f)) return false;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return true;
}

std::string EnabledFeatures::describe() const {
  std::string s;
  auto add = [&](bool on, const char* n) {
    if (on) s += (s.empty() ? "" : " ") + std::string(n);
  };
  add(fp16, "fp16");
  add(int8, "int8");
  add(storage16, "storage16");
  add(storage8, "storage8");
  add(subgroup_arith, "subgroup_arith");
  add(subgroup_shuffle, "subgroup_shuffle");
  add(subgroup_size_control, "subgroup_size_control");
  add(push_descriptor, "push_descriptor");
  add(buffer_device_address, "bda");
  add(int_dot, "int_dot");
  add(coopmat, "coopmat");
  add(timestamps, "timestamps");
  add(memory_budget, "memory_budget");
  return s.empty() ? "none" : s;
}

Device::Device(Instance& instance, const DeviceCaps& caps) : instance_(instance), caps_(caps) {
  if (!caps_.usable)
    throw std::runtime_error("device " + caps_.name + " cannot be used: " + caps_.unusable_reason);

  // Turn on exactly the optional features that exist; record them for variant choice.
  const bool v13 = caps_.api_version >= VK_API_VERSION_1_3;
  FeatureChain chain(caps_.subgroup_size_control, caps_.integer_dot_product);
  auto& feats = chain.features;
  auto& f11 = chain.f11;
  auto& f12 = chain.f12;
  auto& sgf = chain.subgroup_size;
  auto& dotf = chain.int_dot;

  std::vector<const char*> extensions;
  feats.features.shaderInt16 = features_.int16 = caps_.shader_int16;
  feats.features.shaderInt64 = caps_.shader_int64;
  f11.storageBuffer16BitAccess = features_.storage16 = caps_.storage_16bit;
  f12.shaderFloat16 = features_.fp16 = caps_.shader_float16;
  f12.shaderInt8 = features_.int8 = caps_.shader_int8;
  f12.storageBuffer8BitAccess = features_.storage8 = caps_.storage_8bit;
  f12.hostQueryReset = caps_.host_query_reset;
  // Buffer device address stays off: storage bindings are the portable path, and BDA would
  // hide out-of-range accesses from the validation layer.
  features_.subgroup_arith = (caps_.subgroup_ops & VK_SUBGROUP_FEATURE_BASIC_BIT) &&
                             (caps_.subgroup_ops & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
  features_.subgroup_shuffle = caps_.subgroup_ops & VK_SUBGROUP_FEATURE_SHUFFLE_BIT;
  if (caps_.subgroup_size_control) {
    if (!v13) extensions.push_back(VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);
    sgf.subgroupSizeControl = VK_TRUE;
    sgf.computeFullSubgroups = caps_.compute_full_subgroups;
    features_.subgroup_size_control = true;
  }
  if (caps_.integer_dot_product) {
    if (!v13) extensions.push_back(VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);
    dotf.shaderIntegerDotProduct = VK_TRUE;
    features_.int_dot = true;
  }
  if (caps_.push_descriptor) {
    extensions.push_back(VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
    features_.push_descriptor = true;
  }
  if (caps_.memory_budget) {
    extensions.push_back(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
    features_.memory_budget = true;
  }
  // Cooperative-matrix shaders need GLSL extensions Debian's glslc lacks: not enabled until a
  // build-time probe says they compiled.
  features_.coopmat = false;
  features_.timestamps = caps_.timestamps;

  const float priority = 1.0f;
  VkDeviceQueueCreateInfo qinfo{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  qinfo.queueFamilyIndex = caps_.compute_queue_family;
  qinfo.queueCount = 1;
  qinfo.pQueuePriorities = &priority;

  VkDeviceCreateInfo info{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  info.pNext = &feats;
  info.queueCreateInfoCount = 1;
  info.pQueueCreateInfos = &qinfo;
  info.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
  info.ppEnabledExtensionNames = extensions.data();
  VK_CHECK(vkCreateDevice(caps_.physical, &info, nullptr, &device_));
  vkGetDeviceQueue(device_, caps_.compute_queue_family, 0, &queue_);
  if (features_.push_descriptor) {
    cmd_push_descriptor_set = reinterpret_cast<PFN_vkCmdPushDescriptorSetKHR>(
        vkGetDeviceProcAddr(device_, "vkCmdPushDescriptorSetKHR"));
    if (!cmd_push_descriptor_set) features_.push_descriptor = false;
  }
  set_name(VK_OBJECT_TYPE_DEVICE, reinterpret_cast<uint64_t>(device_), caps_.name.c_str());
}

Device::~Device() {
  if (device_) {
    // A destructor cannot throw: the failure is reported, not lost.
    if (VkResult r = vkDeviceWaitIdle(device_); r != VK_SUCCESS)
      std::fprintf(stderr, "vkmoe: vkDeviceWaitIdle in ~Device failed: %s\n", vk_result_name(r));
    vkDestroyDevice(device_, nullptr);
  }
}

void Device::set_name(VkObjectType type, uint64_t handle, const char* name) const {
  instance_.set_name(device_, type, handle, name);
}

void Device::submit(const VkSubmitInfo& info, VkFence fence) {
  std::lock_guard lock(queue_mutex_);
  VK_CHECK(vkQueueSubmit(queue_, 1, &info, fence));
}

void Device::wait_idle() {
  std::lock_guard lock(queue_mutex_);
  VK_CHECK(vkQueueWaitIdle(queue_));
}

}  // namespace vkmoe
