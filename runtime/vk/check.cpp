#include "runtime/vk/check.h"

#include <cstring>

namespace vkmoe {

const char* vk_result_name(VkResult r) {
  switch (r) {
#define CASE(x) \
  case x:       \
    return #x;
    CASE(VK_SUCCESS)
    CASE(VK_NOT_READY)
    CASE(VK_TIMEOUT)
    CASE(VK_EVENT_SET)
    CASE(VK_EVENT_RESET)
    CASE(VK_INCOMPLETE)
    CASE(VK_ERROR_OUT_OF_HOST_MEMORY)
    CASE(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    CASE(VK_ERROR_INITIALIZATION_FAILED)
    CASE(VK_ERROR_DEVICE_LOST)
    CASE(VK_ERROR_MEMORY_MAP_FAILED)
    CASE(VK_ERROR_LAYER_NOT_PRESENT)
    CASE(VK_ERROR_EXTENSION_NOT_PRESENT)
    CASE(VK_ERROR_FEATURE_NOT_PRESENT)
    CASE(VK_ERROR_INCOMPATIBLE_DRIVER)
    CASE(VK_ERROR_TOO_MANY_OBJECTS)
    CASE(VK_ERROR_FORMAT_NOT_SUPPORTED)
    CASE(VK_ERROR_FRAGMENTED_POOL)
    CASE(VK_ERROR_UNKNOWN)
    CASE(VK_ERROR_OUT_OF_POOL_MEMORY)
    CASE(VK_ERROR_INVALID_EXTERNAL_HANDLE)
    CASE(VK_ERROR_FRAGMENTATION)
    CASE(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS)
    CASE(VK_PIPELINE_COMPILE_REQUIRED)
#undef CASE
    default:
      return "VK_RESULT_UNKNOWN";
  }
}

static std::string format_error(const std::string& call, VkResult r, const char* file, int line) {
  const char* base = std::strrchr(file, '/');
  return call + " failed: " + vk_result_name(r) + " (" + std::to_string(static_cast<int>(r)) +
         ") at " + (base ? base + 1 : file) + ":" + std::to_string(line);
}

VkError::VkError(const std::string& call, VkResult r, const char* file, int line)
    : std::runtime_error(format_error(call, r, file, line)), result_(r) {}

void throw_vk_error(const char* call, VkResult r, const char* file, int line) {
  throw VkError(call, r, file, line);
}

}  // namespace vkmoe
