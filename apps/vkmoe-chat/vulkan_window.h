// The window's own Vulkan setup for drawing Dear ImGui, kept apart from the compute Context the
// model runs on: instance, device, descriptor pool and swapchain, laid out as Dear ImGui's
// example_glfw_vulkan does (setup, frame render, frame present, cleanup).
#pragma once
#include <vulkan/vulkan.h>

#include <string>

#include <backends/imgui_impl_vulkan.h>
#include <imgui.h>

struct GLFWwindow;

namespace vkmoe {

struct VulkanWindow {
  VkInstance instance = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger = VK_NULL_HANDLE;
  VkPhysicalDevice physical_device = VK_NULL_HANDLE;
  std::string device_name;
  VkDevice device = VK_NULL_HANDLE;
  uint32_t queue_family = UINT32_MAX;
  VkQueue queue = VK_NULL_HANDLE;
  VkDescriptorPool descriptor_pool = VK_NULL_HANDLE;
  ImGui_ImplVulkanH_Window wd;
  uint32_t min_image_count = 2;
  bool swapchain_rebuild = false;
};

// Instance with the extensions GLFW needs (plus the validation layer with VKMOE_VALIDATE=1), a
// device with a graphics queue that can present to window, and the swapchain.
void setup_vulkan(VulkanWindow& vw, GLFWwindow* window);
// ImGui's Vulkan backend on vw's render pass, and its font texture uploaded.
void init_imgui_vulkan(VulkanWindow& vw);
// Recreates the swapchain after a resize (when frame_render or frame_present asked for it).
void resize_if_needed(VulkanWindow& vw, GLFWwindow* window);
void frame_render(VulkanWindow& vw, ImDrawData* draw_data, ImVec4 clear_color);
void frame_present(VulkanWindow& vw);
// Everything setup_vulkan made; call after ImGui_ImplVulkan_Shutdown().
void cleanup_vulkan(VulkanWindow& vw);
// Errors the validation layer reported on this instance (none without VKMOE_VALIDATE=1).
uint32_t render_validation_errors();

}  // namespace vkmoe
