#include "runtime/vk/instance.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "runtime/vk/check.h"

namespace vkmoe {

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0;
}

static VKAPI_ATTR VkBool32 VKAPI_CALL debug_callback(
    VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT,
    const VkDebugUtilsMessengerCallbackDataEXT* data, void* user) {
  static_cast<Instance*>(user)->on_message(severity, data && data->pMessage ? data->pMessage : "");
  return VK_FALSE;
}

static bool has_layer(const char* name) {
  uint32_t n = 0;
  VK_CHECK(vkEnumerateInstanceLayerProperties(&n, nullptr));
  std::vector<VkLayerProperties> layers(n);
  VK_CHECK(vkEnumerateInstanceLayerProperties(&n, layers.data()));
  for (const auto& l : layers)
    if (std::strcmp(l.layerName, name) == 0) return true;
  return false;
}

static std::vector<VkExtensionProperties> instance_extensions(const char* layer) {
  uint32_t n = 0;
  VK_CHECK(vkEnumerateInstanceExtensionProperties(layer, &n, nullptr));
  std::vector<VkExtensionProperties> exts(n);
  VK_CHECK(vkEnumerateInstanceExtensionProperties(layer, &n, exts.data()));
  exts.resize(n);
  return exts;
}

Instance::Instance(InstanceOptions options) {
  validation_ = options.validation || env_flag("VKMOE_VALIDATE");
  constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";
  if (validation_ && !has_layer(kValidationLayer)) {
    if (options.require_validation)
      throw std::runtime_error(
          "validation was requested but VK_LAYER_KHRONOS_validation is not installed "
          "(Debian package vulkan-validationlayers; scripts/setup.sh installs it)");
    validation_ = false;
  }

  VK_CHECK(vkEnumerateInstanceVersion(&api_version_));
  if (api_version_ < VK_API_VERSION_1_2)
    throw std::runtime_error("the Vulkan loader supports only version " +
                             std::to_string(VK_API_VERSION_MAJOR(api_version_)) + "." +
                             std::to_string(VK_API_VERSION_MINOR(api_version_)) +
                             "; vkmoe needs 1.2 or newer");

  std::vector<const char*> extensions;
  bool debug_utils = false;
  for (const auto& e : instance_extensions(nullptr)) {
    if (std::strcmp(e.extensionName, VK_EXT_DEBUG_UTILS_EXTENSION_NAME) == 0) debug_utils = true;
    if (std::strcmp(e.extensionName, VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME) == 0)
      extensions.push_back(VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME);
  }
  if (validation_)
    for (const auto& e : instance_extensions(kValidationLayer))
      if (std::strcmp(e.extensionName, VK_EXT_DEBUG_UTILS_EXTENSION_NAME) == 0) debug_utils = true;
  if (debug_utils) extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);

  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "vkmoe";
  app.pEngineName = "vkmoe";
  app.apiVersion = api_version_ >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : VK_API_VERSION_1_2;
  api_version_ = app.apiVersion;

  VkDebugUtilsMessengerCreateInfoEXT messenger_info{
      VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
  messenger_info.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT |
                                   VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT;
  messenger_info.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
  messenger_info.pfnUserCallback = debug_callback;
  messenger_info.pUserData = this;

  VkInstanceCreateInfo info{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  info.pApplicationInfo = &app;
  info.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
  info.ppEnabledExtensionNames = extensions.data();
  for (const char* e : extensions)
    if (std::strcmp(e, VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME) == 0)
      info.flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
  if (validation_) {
    info.enabledLayerCount = 1;
    info.ppEnabledLayerNames = &kValidationLayer;
  }
  // Chained so that errors during instance creation itself are counted too.
  if (validation_ && debug_utils) info.pNext = &messenger_info;
  // Synchronization validation checks that the barriers Sequence inserts are enough: on in
  // tests (VKMOE_SYNC_VALIDATION=1), off by default since it slows every command.
  VkValidationFeatureEnableEXT sync_feature = VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT;
  VkValidationFeaturesEXT features{VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT};
  features.enabledValidationFeatureCount = 1;
  features.pEnabledValidationFeatures = &sync_feature;
  if (validation_ && env_flag("VKMOE_SYNC_VALIDATION")) {
    features.pNext = info.pNext;
    info.pNext = &features;
  }
  const VkResult created = vkCreateInstance(&info, nullptr, &instance_);
  if (created == VK_ERROR_INCOMPATIBLE_DRIVER)
    throw VulkanUnavailable(
        "no Vulkan driver was found (vkCreateInstance: VK_ERROR_INCOMPATIBLE_DRIVER). Install one: on Debian or "
        "Ubuntu `apt-get install mesa-vulkan-drivers` (lavapipe, which runs on the CPU, and Mesa's GPU drivers), or "
        "your GPU vendor's driver; check VK_ICD_FILENAMES / VK_DRIVER_FILES if set");
  VK_CHECK(created);

  if (debug_utils) {
    auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkCreateDebugUtilsMessengerEXT"));
    set_name_fn_ = reinterpret_cast<PFN_vkSetDebugUtilsObjectNameEXT>(
        vkGetInstanceProcAddr(instance_, "vkSetDebugUtilsObjectNameEXT"));
    if (create && validation_) VK_CHECK(create(instance_, &messenger_info, nullptr, &messenger_));
  }
}

Instance::~Instance() {
  if (messenger_) {
    auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
    if (destroy) destroy(instance_, messenger_, nullptr);
  }
  if (instance_) vkDestroyInstance(instance_, nullptr);
}

void Instance::on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity, const char* text) {
  bool error = severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
  if (error) errors_.fetch_add(1);
  std::fprintf(stderr, "vkmoe: validation %s: %s\n", error ? "error" : "warning", text);
  std::lock_guard lock(mutex_);
  if (messages_.size() < 64) messages_.emplace_back(text);
}

std::vector<std::string> Instance::validation_messages() const {
  std::lock_guard lock(mutex_);
  return messages_;
}

void Instance::reset_validation_errors() {
  std::lock_guard lock(mutex_);
  errors_ = 0;
  messages_.clear();
}

void Instance::set_name(VkDevice device, VkObjectType type, uint64_t handle, const char* name) const {
  if (!set_name_fn_ || !name || !handle) return;
  VkDebugUtilsObjectNameInfoEXT info{VK_STRUCTURE_TYPE_DEBUG_UTILS_OBJECT_NAME_INFO_EXT};
  info.objectType = type;
  info.objectHandle = handle;
  info.pObjectName = name;
  VK_CHECK(set_name_fn_(device, &info));
}

}  // namespace vkmoe
