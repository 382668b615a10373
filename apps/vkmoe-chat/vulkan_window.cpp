#include "apps/vkmoe-chat/vulkan_window.h"

#define GLFW_INCLUDE_NONE
#define GLFW_INCLUDE_VULKAN
#include <GLFW/glfw3.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "runtime/vk/check.h"
#include "runtime/vk/instance.h"

namespace vkmoe {

namespace {

std::atomic<uint32_t> g_validation_errors{0};

VKAPI_ATTR VkBool32 VKAPI_CALL on_validation_message(
    VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT,
    const VkDebugUtilsMessengerCallbackDataEXT* data, void*) {
  if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) {
    ++g_validation_errors;
    std::fprintf(stderr, "vkmoe-chat: validation error: %s\n", data->pMessage);
  }
  return VK_FALSE;
}

bool has_layer(const char* name) {
  uint32_t n = 0;
  VK_CHECK(vkEnumerateInstanceLayerProperties(&n, nullptr));
  std::vector<VkLayerProperties> layers(n);
  VK_CHECK(vkEnumerateInstanceLayerProperties(&n, layers.data()));
  for (const auto& l : layers)
    if (!std::strcmp(l.layerName, name)) return true;
  return false;
}

void create_instance(VulkanWindow& vw) {
  uint32_t glfw_count = 0;
  const char** glfw_extensions = glfwGetRequiredInstanceExtensions(&glfw_count);
  if (!glfw_extensions)
    throw std::runtime_error("GLFW found no Vulkan surface support for windows");
  std::vector<const char*> extensions(glfw_extensions, glfw_extensions + glfw_count);
  std::vector<const char*> layers;
  // Same switch as the compute side, so one variable checks the whole program.
  const bool validate = env_flag("VKMOE_VALIDATE") && has_layer("VK_LAYER_KHRONOS_validation");
  if (validate) {
    layers.push_back("VK_LAYER_KHRONOS_validation");
    extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
  }
  VkApplicationInfo app{.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                        .pApplicationName = "vkmoe-chat",
                        .apiVersion = VK_API_VERSION_1_1};
  VkInstanceCreateInfo info{.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                            .pApplicationInfo = &app,
                            .enabledLayerCount = static_cast<uint32_t>(layers.size()),
                            .ppEnabledLayerNames = layers.data(),
                            .enabledExtensionCount = static_cast<uint32_t>(extensions.size()),
                            .ppEnabledExtensionNames = extensions.data()};
  VK_CHECK(vkCreateInstance(&info, nullptr, &vw.instance));
  if (!validate) return;
  auto create_messenger = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
      vkGetInstanceProcAddr(vw.instance, "vkCreateDebugUtilsMessengerEXT"));
  VkDebugUtilsMessengerCreateInfoEXT m{
      .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
      .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT |
                         VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT,
      .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                     VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT,
      .pfnUserCallback = on_validation_message};
  if (create_messenger) VK_CHECK(create_messenger(vw.instance, &m, nullptr, &vw.messenger));
}

// A device with one queue family that both draws and presents to the surface; discrete first,
// as the example does, since it is the one driving the display.
void select_device(VulkanWindow& vw, VkSurfaceKHR surface) {
  uint32_t n = 0;
  VK_CHECK(vkEnumeratePhysicalDevices(vw.instance, &n, nullptr));
  std::vector<VkPhysicalDevice> gpus(n);
  VK_CHECK(vkEnumeratePhysicalDevices(vw.instance, &n, gpus.data()));
  int best_score = -1;
  for (VkPhysicalDevice gpu : gpus) {
    VkPhysicalDeviceProperties props;
    vkGetPhysicalDeviceProperties(gpu, &props);
    uint32_t count = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(gpu, &count, nullptr);
    std::vector<VkQueueFamilyProperties> families(count);
    vkGetPhysicalDeviceQueueFamilyProperties(gpu, &count, families.data());
    for (uint32_t f = 0; f < count; ++f) {
      VkBool32 present = VK_FALSE;
      VK_CHECK(vkGetPhysicalDeviceSurfaceSupportKHR(gpu, f, surface, &present));
      if (!(families[f].queueFlags & VK_QUEUE_GRAPHICS_BIT) || !present) continue;
      const int score = props.deviceType == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU     ? 3
                        : props.deviceType == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU ? 2
                                                                                     : 1;
      if (score > best_score) {
        best_score = score;
        vw.physical_device = gpu;
        vw.queue_family = f;
        vw.device_name = props.deviceName;
      }
      break;
    }
  }
  if (best_score < 0) throw std::runtime_error("no Vulkan device can draw to this window");
}

void create_device(VulkanWindow& vw) {
  const char* extensions[] = {VK_KHR_SWAPCHAIN_EXTENSION_NAME};
  const float priority = 1.0f;
  VkDeviceQueueCreateInfo queue{.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                .queueFamilyIndex = vw.queue_family,
                                .queueCount = 1,
                                .pQueuePriorities = &priority};
  VkDeviceCreateInfo info{.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                          .queueCreateInfoCount = 1,
                          .pQueueCreateInfos = &queue,
                          .enabledExtensionCount = 1,
                          .ppEnabledExtensionNames = extensions};
  VK_CHECK(vkCreateDevice(vw.physical_device, &info, nullptr, &vw.device));
  vkGetDeviceQueue(vw.device, vw.queue_family, 0, &vw.queue);

  // Room for the font texture's descriptor set and a few more, as the example sizes it.
  VkDescriptorPoolSize sizes[] = {{VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER, 16}};
  VkDescriptorPoolCreateInfo pool{.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                  .flags = VK_DESCRIPTOR_POOL_CREATE_FREE_DESCRIPTOR_SET_BIT,
                                  .maxSets = 16,
                                  .poolSizeCount = 1,
                                  .pPoolSizes = sizes};
  VK_CHECK(vkCreateDescriptorPool(vw.device, &pool, nullptr, &vw.descriptor_pool));
}

void setup_swapchain(VulkanWindow& vw, VkSurfaceKHR surface, int width, int height) {
  vw.wd.Surface = surface;
  const VkFormat formats[] = {VK_FORMAT_B8G8R8A8_UNORM, VK_FORMAT_R8G8B8A8_UNORM,
                              VK_FORMAT_B8G8R8_UNORM, VK_FORMAT_R8G8B8_UNORM};
  vw.wd.SurfaceFormat = ImGui_ImplVulkanH_SelectSurfaceFormat(vw.physical_device, surface, formats,
                                                              4, VK_COLORSPACE_SRGB_NONLINEAR_KHR);
  const VkPresentModeKHR modes[] = {VK_PRESENT_MODE_FIFO_KHR};
  vw.wd.PresentMode = ImGui_ImplVulkanH_SelectPresentMode(vw.physical_device, surface, modes, 1);
  ImGui_ImplVulkanH_CreateOrResizeWindow(vw.instance, vw.physical_device, vw.device, &vw.wd,
                                         vw.queue_family, nullptr, width, height,
                                         vw.min_image_count);
}

// The backend reports its own Vulkan results through this; thrown like every other.
void check_backend_result(VkResult r) {
  if (r != VK_SUCCESS) throw_vk_error("ImGui Vulkan backend", r, __FILE__, __LINE__);
}

}  // namespace

void setup_vulkan(VulkanWindow& vw, GLFWwindow* window) {
  create_instance(vw);
  VkSurfaceKHR surface = VK_NULL_HANDLE;
  VK_CHECK(glfwCreateWindowSurface(vw.instance, window, nullptr, &surface));
  select_device(vw, surface);
  create_device(vw);
  int w = 0, h = 0;
  glfwGetFramebufferSize(window, &w, &h);
  setup_swapchain(vw, surface, w, h);
}

void init_imgui_vulkan(VulkanWindow& vw) {
  ImGui_ImplVulkan_InitInfo info{};
  info.Instance = vw.instance;
  info.PhysicalDevice = vw.physical_device;
  info.Device = vw.device;
  info.QueueFamily = vw.queue_family;
  info.Queue = vw.queue;
  info.DescriptorPool = vw.descriptor_pool;
  info.MinImageCount = vw.min_image_count;
  info.ImageCount = vw.wd.ImageCount;
  info.MSAASamples = VK_SAMPLE_COUNT_1_BIT;
  info.CheckVkResultFn = check_backend_result;
  if (!ImGui_ImplVulkan_Init(&info, vw.wd.RenderPass))
    throw std::runtime_error("ImGui's Vulkan backend did not start");

  // Upload the font texture with the first frame's command buffer, then wait for it.
  ImGui_ImplVulkanH_Frame& fd = vw.wd.Frames[vw.wd.FrameIndex];
  VK_CHECK(vkResetCommandPool(vw.device, fd.CommandPool, 0));
  VkCommandBufferBeginInfo begin{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                 .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
  VK_CHECK(vkBeginCommandBuffer(fd.CommandBuffer, &begin));
  ImGui_ImplVulkan_CreateFontsTexture(fd.CommandBuffer);
  VK_CHECK(vkEndCommandBuffer(fd.CommandBuffer));
  VkSubmitInfo submit{.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                      .commandBufferCount = 1,
                      .pCommandBuffers = &fd.CommandBuffer};
  VK_CHECK(vkQueueSubmit(vw.queue, 1, &submit, VK_NULL_HANDLE));
  VK_CHECK(vkDeviceWaitIdle(vw.device));
  ImGui_ImplVulkan_DestroyFontUploadObjects();
}

void resize_if_needed(VulkanWindow& vw, GLFWwindow* window) {
  if (!vw.swapchain_rebuild) return;
  int w = 0, h = 0;
  glfwGetFramebufferSize(window, &w, &h);
  if (w <= 0 || h <= 0) return;  // minimised: wait
  ImGui_ImplVulkan_SetMinImageCount(vw.min_image_count);
  ImGui_ImplVulkanH_CreateOrResizeWindow(vw.instance, vw.physical_device, vw.device, &vw.wd,
                                         vw.queue_family, nullptr, w, h, vw.min_image_count);
  vw.wd.FrameIndex = 0;
  vw.swapchain_rebuild = false;
}

void frame_render(VulkanWindow& vw, ImDrawData* draw_data, ImVec4 clear_color) {
  ImGui_ImplVulkanH_Window& wd = vw.wd;
  VkSemaphore acquired = wd.FrameSemaphores[wd.SemaphoreIndex].ImageAcquiredSemaphore;
  VkSemaphore rendered = wd.FrameSemaphores[wd.SemaphoreIndex].RenderCompleteSemaphore;
  VkResult r = vkAcquireNextImageKHR(vw.device, wd.Swapchain, UINT64_MAX, acquired, VK_NULL_HANDLE,
                                     &wd.FrameIndex);
  if (r == VK_ERROR_OUT_OF_DATE_KHR || r == VK_SUBOPTIMAL_KHR) {
    vw.swapchain_rebuild = true;
    return;
  }
  VK_CHECK(r);

  ImGui_ImplVulkanH_Frame& fd = wd.Frames[wd.FrameIndex];
  VK_CHECK(vkWaitForFences(vw.device, 1, &fd.Fence, VK_TRUE, UINT64_MAX));
  VK_CHECK(vkResetFences(vw.device, 1, &fd.Fence));
  VK_CHECK(vkResetCommandPool(vw.device, fd.CommandPool, 0));
  VkCommandBufferBeginInfo begin{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                 .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
  VK_CHECK(vkBeginCommandBuffer(fd.CommandBuffer, &begin));
  wd.ClearValue.color = {{clear_color.x, clear_color.y, clear_color.z, clear_color.w}};
  VkRenderPassBeginInfo pass{
      .sType = VK_STRUCTURE_TYPE_RENDER_PASS_BEGIN_INFO,
      .renderPass = wd.RenderPass,
      .framebuffer = fd.Framebuffer,
      .renderArea = {{0, 0}, {static_cast<uint32_t>(wd.Width), static_cast<uint32_t>(wd.Height)}},
      .clearValueCount = 1,
      .pClearValues = &wd.ClearValue};
  vkCmdBeginRenderPass(fd.CommandBuffer, &pass, VK_SUBPASS_CONTENTS_INLINE);
  ImGui_ImplVulkan_RenderDrawData(draw_data, fd.CommandBuffer);
  vkCmdEndRenderPass(fd.CommandBuffer);
  VK_CHECK(vkEndCommandBuffer(fd.CommandBuffer));

  const VkPipelineStageFlags wait_stage = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT;
  VkSubmitInfo submit{.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                      .waitSemaphoreCount = 1,
                      .pWaitSemaphores = &acquired,
                      .pWaitDstStageMask = &wait_stage,
                      .commandBufferCount = 1,
                      .pCommandBuffers = &fd.CommandBuffer,
                      .signalSemaphoreCount = 1,
                      .pSignalSemaphores = &rendered};
  VK_CHECK(vkQueueSubmit(vw.queue, 1, &submit, fd.Fence));
}

void frame_present(VulkanWindow& vw) {
  if (vw.swapchain_rebuild) return;
  ImGui_ImplVulkanH_Window& wd = vw.wd;
  VkSemaphore rendered = wd.FrameSemaphores[wd.SemaphoreIndex].RenderCompleteSemaphore;
  VkPresentInfoKHR info{.sType = VK_STRUCTURE_TYPE_PRESENT_INFO_KHR,
                        .waitSemaphoreCount = 1,
                        .pWaitSemaphores = &rendered,
                        .swapchainCount = 1,
                        .pSwapchains = &wd.Swapchain,
                        .pImageIndices = &wd.FrameIndex};
  VkResult r = vkQueuePresentKHR(vw.queue, &info);
  if (r == VK_ERROR_OUT_OF_DATE_KHR || r == VK_SUBOPTIMAL_KHR) {
    vw.swapchain_rebuild = true;
    return;
  }
  VK_CHECK(r);
  wd.SemaphoreIndex = (wd.SemaphoreIndex + 1) % wd.ImageCount;  // the next set of semaphores
}

void cleanup_vulkan(VulkanWindow& vw) {
  if (vw.device) {
    ImGui_ImplVulkanH_DestroyWindow(vw.instance, vw.device, &vw.wd, nullptr);
    vkDestroyDescriptorPool(vw.device, vw.descriptor_pool, nullptr);
    vkDestroyDevice(vw.device, nullptr);
  }
  if (vw.messenger) {
    auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(vw.instance, "vkDestroyDebugUtilsMessengerEXT"));
    if (destroy) destroy(vw.instance, vw.messenger, nullptr);
  }
  if (vw.instance) vkDestroyInstance(vw.instance, nullptr);
  vw = {};
}

uint32_t render_validation_errors() {
  return g_validation_errors.load();
}

}  // namespace vkmoe
