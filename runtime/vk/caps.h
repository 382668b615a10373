// What a physical device can do, read once from Vulkan and never assumed: kernels pick their
// variants and sizes from this record.
#pragma once
#include <vulkan/vulkan.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace vkmoe {

class Instance;

struct MemoryHeapCaps {
  uint64_t size = 0;      // bytes
  uint64_t budget = 0;    // VK_EXT_memory_budget's figure, or size when the extension is absent
  uint64_t usage = 0;     // bytes in use by this process (0 without the extension)
  bool device_local = false;
};

struct MemoryTypeCaps {
  uint32_t heap = 0;
  VkMemoryPropertyFlags flags = 0;
};

struct DeviceCaps {
  uint32_t index = 0;  // position in vkEnumeratePhysicalDevices
  VkPhysicalDevice physical = VK_NULL_HANDLE;
  std::string name;
  uint32_t vendor_id = 0;
  std::string vendor;  // "NVIDIA", "AMD", "Intel", "Mesa", ...
  uint32_t device_id = 0;
  VkPhysicalDeviceType type = VK_PHYSICAL_DEVICE_TYPE_OTHER;
  uint32_t api_version = 0;
  VkDriverId driver_id = {};
  std::string driver_name;  // e.g. "llvmpipe", "NVIDIA", "radv"
  std::string driver_info;  // the driver's own version text
  uint32_t driver_version = 0;
  std::array<uint8_t, VK_UUID_SIZE> uuid{};  // device UUID: keys the pipeline cache
  bool usable = true;                       // false below Vulkan 1.2 or without compute
  std::string unusable_reason;

  std::vector<MemoryHeapCaps> heaps;
  std::vector<MemoryTypeCaps> memory_types;
  bool memory_budget = false;  // VK_EXT_memory_budget
  bool unified_memory = false; // every device-local heap is also host-visible (UMA, lavapipe)

  uint32_t subgroup_size = 0;
  VkSubgroupFeatureFlags subgroup_ops = 0;  // operations supported in compute shaders
  bool subgroup_size_control = false;
  bool compute_full_subgroups = false;
  uint32_t min_subgroup_size = 0, max_subgroup_size = 0;

  uint32_t max_shared_memory = 0;           // bytes per workgroup
  uint32_t max_workgroup_invocations = 0;
  std::array<uint32_t, 3> max_workgroup_size{};
  std::array<uint32_t, 3> max_workgroup_count{};
  uint64_t max_storage_buffer_range = 0;    // largest bytes one storage binding may cover
  uint64_t max_memory_allocation_size = 0;  // largest single VkDeviceMemory
  uint32_t max_push_constants = 0;
  uint64_t storage_buffer_alignment = 0;    // minStorageBufferOffsetAlignment
  uint64_t non_coherent_atom_size = 0;

  bool shader_float16 = false;   // fp16 arithmetic
  bool shader_int8 = false;
  bool shader_int16 = false;
  bool shader_int64 = false;
  bool storage_16bit = false;    // 16-bit storage buffer access
  bool storage_8bit = false;     // 8-bit storage buffer access
  bool integer_dot_product = false;
  bool integer_dot_4x8_accelerated = false;
  bool cooperative_matrix = false;  // VK_KHR_cooperative_matrix (or the NV one)
  bool push_descriptor = false;
  bool buffer_device_address = false;
  bool host_query_reset = false;

  bool timestamps = false;          // compute queue supports timestamps
  uint32_t timestamp_valid_bits = 0;
  float timestamp_period_ns = 0;

  uint32_t compute_queue_family = UINT32_MAX;
  bool dedicated_compute_queue = false;  // a family with compute but not graphics

  std::vector<std::string> extensions;

  bool has_extension(const char* name) const;
  uint64_t device_local_bytes() const;
  const char* type_name() const;
};

// The feature structures vkmoe queries (caps.cpp) and enables (device.cpp), chained in one place
// so both sides always agree on which exist. Optional ones are linked only when the device's
// version or extensions define them (chaining an unknown structure is invalid usage).
struct FeatureChain {
  VkPhysicalDeviceFeatures2 features{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  VkPhysicalDeviceVulkan11Features f11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  VkPhysicalDeviceSubgroupSizeControlFeaturesEXT subgroup_size{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES_EXT};
  VkPhysicalDeviceShaderIntegerDotProductFeaturesKHR int_dot{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES_KHR};

  FeatureChain(bool with_subgroup_size, bool with_int_dot);
  FeatureChain(const FeatureChain&) = delete;  // points into itself
  FeatureChain& operator=(const FeatureChain&) = delete;
};

std::vector<DeviceCaps> query_devices(const Instance& instance);

// Picks by index ("1") or a case-insensitive name substring ("llvmpipe", "rtx"); empty picks
// the best: discrete > integrated > virtual > CPU, then the most device-local memory.
// Throws with the list of devices when nothing matches.
size_t choose_device(const std::vector<DeviceCaps>& devices, const std::string& selector);

std::string devices_table(const std::vector<DeviceCaps>& devices);
std::string devices_json(const std::vector<DeviceCaps>& devices);

std::string format_bytes(uint64_t bytes);
std::string version_string(uint32_t vk_version);

}  // namespace vkmoe
