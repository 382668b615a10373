// The Vulkan instance, with the Khronos validation layer and a debug-utils messenger that
// counts every error it reports (tests fail on any).
#pragma once
#include <vulkan/vulkan.h>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace vkmoe {

// No Vulkan driver (ICD) could be loaded: the message says how to install one. Tools that can
// do part of their work without a device (vkmoe inspect) catch this one.
class VulkanUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct InstanceOptions {
  // Validation: on when VKMOE_VALIDATE=1 in the environment, or when asked for here.
  bool validation = false;
  // Fail instead of silently running without the layer when validation is asked for.
  bool require_validation = true;
};

class Instance {
 public:
  explicit Instance(InstanceOptions options = {});
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  VkInstance get() const { return instance_; }
  uint32_t api_version() const { return api_version_; }
  bool validation_enabled() const { return validation_; }
  bool debug_utils() const { return messenger_ != VK_NULL_HANDLE; }

  // Validation errors reported since creation or the last reset.
  uint32_t validation_errors() const { return errors_.load(); }
  std::vector<std::string> validation_messages() const;
  void reset_validation_errors();

  // Names an object for validation messages and tools; a no-op without debug utils.
  void set_name(VkDevice device, VkObjectType type, uint64_t handle, const char* name) const;

  // Called by the messenger; public so the C callback can reach it.
  void on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity, const char* text);

 private:
  VkInstance instance_ = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
  uint32_t api_version_ = 0;
  bool validation_ = false;
  std::atomic<uint32_t> errors_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> messages_;
  PFN_vkSetDebugUtilsObjectNameEXT set_name_fn_ = nullptr;
};

// True when the environment variable is set to a non-empty value other than "0".
bool env_flag(const char* name);

}  // namespace vkmoe
