// Every VkResult is checked in every build type and turned into an exception that names the
// call and the result, never an assert that a release build drops.
#pragma once
#include <vulkan/vulkan.h>

#include <stdexcept>
#include <string>

namespace vkmoe {

const char* vk_result_name(VkResult r);

// Thrown for any failed Vulkan call; result() lets callers react to e.g. VK_ERROR_OUT_OF_DEVICE_MEMORY.
class VkError : public std::runtime_error {
 public:
  VkError(const std::string& call, VkResult r, const char* file, int line);
  VkResult result() const { return result_; }

 private:
  VkResult result_;
};

[[noreturn]] void throw_vk_error(const char* call, VkResult r, const char* file, int line);

}  // namespace vkmoe

#define VK_CHECK(call)                                                         \
  do {                                                                         \
    VkResult vk_check_result_ = (call);                                        \
    if (vk_check_result_ != VK_SUCCESS)                                        \
      ::vkmoe::throw_vk_error(#call, vk_check_result_, __FILE__, __LINE__);    \
  } while (0)
