#include "apps/vkmoe-chat/screenshot.h"

#include <stb_image_write.h>

#include <cstring>
#include <stdexcept>
#include <vector>

#include "runtime/util/safe_file.h"
#include "runtime/vk/check.h"

namespace vkmoe {

namespace {

uint32_t memory_type(VkPhysicalDevice gpu, uint32_t type_bits, VkMemoryPropertyFlags want) {
  VkPhysicalDeviceMemoryProperties props;
  vkGetPhysicalDeviceMemoryProperties(gpu, &props);
  for (uint32_t i = 0; i < props.memoryTypeCount; ++i)
    if ((type_bits & (1u << i)) && (props.memoryTypes[i].propertyFlags & want) == want) return i;
  throw std::runtime_error("screenshot: no suitable Vulkan memory type");
}

VkDeviceMemory allocate(VulkanWindow& vw, VkMemoryRequirements req, VkMemoryPropertyFlags want) {
  VkMemoryAllocateInfo info{
      .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
      .allocationSize = req.size,
      .memoryTypeIndex = memory_type(vw.physical_device, req.memoryTypeBits, want)};
  VkDeviceMemory mem = VK_NULL_HANDLE;
  VK_CHECK(vkAllocateMemory(vw.device, &info, nullptr, &mem));
  return mem;
}

// Every object the readback makes, destroyed together whether it succeeds or throws.
struct Offscreen {
  VkDevice device;
  VkImage image = VK_NULL_HANDLE;
  VkDeviceMemory image_memory = VK_NULL_HANDLE;
  VkImageView view = VK_NULL_HANDLE;
  VkRenderPass pass = VK_NULL_HANDLE;
  VkFramebuffer framebuffer = VK_NULL_HANDLE;
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceMemory buffer_memory = VK_NULL_HANDLE;
  VkCommandPool pool = VK_NULL_HANDLE;
  VkFence fence = VK_NULL_HANDLE;
  ~Offscreen() {
    vkDestroyFence(device, fence, nullptr);
    vkDestroyCommandPool(device, pool, nullptr);
    vkDestroyBuffer(device, buffer, nullptr);
    vkFreeMemory(device, buffer_memory, nullptr);
    vkDestroyFramebuffer(device, framebuffer, nullptr);
    vkDestroyRenderPass(device, pass, nullptr);
    vkDestroyImageView(device, view, nullptr);
    vkDestroyImage(device, image, nullptr);
    vkFreeMemory(device, image_memory, nullptr);
  }
};

void create_target(VulkanWindow& vw, Offscreen& o, VkFormat format, uint32_t w, uint32_t h) {
  VkImageCreateInfo image{
      .sType = VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO,
      .imageType = VK_IMAGE_TYPE_2D,
      .format = format,
      .extent = {w, h, 1},
      .mipLevels = 1,
      .arrayLayers = 1,
      .samples = VK_SAMPLE_COUNT_1_BIT,
      .tiling = VK_IMAGE_TILING_OPTIMAL,
      .usage = VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT | VK_IMAGE_USAGE_TRANSFER_SRC_BIT,
      .initialLayout = VK_IMAGE_LAYOUT_UNDEFINED};
  VK_CHECK(vkCreateImage(vw.device, &image, nullptr, &o.image));
  VkMemoryRequirements req;
  vkGetImageMemoryRequirements(vw.device, o.image, &req);
  o.image_memory = allocate(vw, req, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
  VK_CHECK(vkBindImageMemory(vw.device, o.image, o.image_memory, 0));
  VkImageViewCreateInfo view{.sType = VK_STRUCTURE_TYPE_IMAGE_VIEW_CREATE_INFO,
                             .image = o.image,
                             .viewType = VK_IMAGE_VIEW_TYPE_2D,
                             .format = format,
                             .subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1}};
  VK_CHECK(vkCreateImageView(vw.device, &view, nullptr, &o.view));

  // Compatible with the window's render pass (same attachment and dependency, as the validation
  // layer compares those too), so ImGui's pipeline draws into it.
  VkAttachmentDescription color{.format = format,
                                .samples = VK_SAMPLE_COUNT_1_BIT,
                                .loadOp = VK_ATTACHMENT_LOAD_OP_CLEAR,
                                .storeOp = VK_ATTACHMENT_STORE_OP_STORE,
                                .stencilLoadOp = VK_ATTACHMENT_LOAD_OP_DONT_CARE,
                                .stencilStoreOp = VK_ATTACHMENT_STORE_OP_DONT_CARE,
                                .initialLayout = VK_IMAGE_LAYOUT_UNDEFINED,
                                .finalLayout = VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL};
  VkAttachmentReference ref{0, VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL};
  VkSubpassDescription subpass{.pipelineBindPoint = VK_PIPELINE_BIND_POINT_GRAPHICS,
                               .colorAttachmentCount = 1,
                               .pColorAttachments = &ref};
  VkSubpassDependency done{.srcSubpass = VK_SUBPASS_EXTERNAL,
                           .dstSubpass = 0,
                           .srcStageMask = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT,
                           .dstStageMask = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT,
                           .srcAccessMask = 0,
                           .dstAccessMask = VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT};
  VkRenderPassCreateInfo pass{.sType = VK_STRUCTURE_TYPE_RENDER_PASS_CREATE_INFO,
                              .attachmentCount = 1,
                              .pAttachments = &color,
                              .subpassCount = 1,
                              .pSubpasses = &subpass,
                              .dependencyCount = 1,
                              .pDependencies = &done};
  VK_CHECK(vkCreateRenderPass(vw.device, &pass, nullptr, &o.pass));
  VkFramebufferCreateInfo fb{.sType = VK_STRUCTURE_TYPE_FRAMEBUFFER_CREATE_INFO,
                             .renderPass = o.pass,
                             .attachmentCount = 1,
                             .pAttachments = &o.view,
                             .width = w,
                             .height = h,
                             .layers = 1};
  VK_CHECK(vkCreateFramebuffer(vw.device, &fb, nullptr, &o.framebuffer));

  VkBufferCreateInfo buffer{.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                            .size = static_cast<VkDeviceSize>(w) * h * 4,
                            .usage = VK_BUFFER_USAGE_TRANSFER_DST_BIT};
  VK_CHECK(vkCreateBuffer(vw.device, &buffer, nullptr, &o.buffer));
  vkGetBufferMemoryRequirements(vw.device, o.buffer, &req);
  o.buffer_memory =
      allocate(vw, req, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
  VK_CHECK(vkBindBufferMemory(vw.device, o.buffer, o.buffer_memory, 0));
}

void record_and_run(VulkanWindow& vw, Offscreen& o, ImDrawData* draw_data, ImVec4 clear, uint32_t w,
                    uint32_t h) {
  VkCommandPoolCreateInfo pool{.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                               .queueFamilyIndex = vw.queue_family};
  VK_CHECK(vkCreateCommandPool(vw.device, &pool, nullptr, &o.pool));
  VkCommandBufferAllocateInfo alloc{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                    .commandPool = o.pool,
                                    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                    .commandBufferCount = 1};
  VkCommandBuffer cmd = VK_NULL_HANDLE;
  VK_CHECK(vkAllocateCommandBuffers(vw.device, &alloc, &cmd));
  VkCommandBufferBeginInfo begin{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                 .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
  VK_CHECK(vkBeginCommandBuffer(cmd, &begin));
  VkClearValue clear_value{};
  clear_value.color = {{clear.x, clear.y, clear.z, clear.w}};
  VkRenderPassBeginInfo pass{.sType = VK_STRUCTURE_TYPE_RENDER_PASS_BEGIN_INFO,
                             .renderPass = o.pass,
                             .framebuffer = o.framebuffer,
                             .renderArea = {{0, 0}, {w, h}},
                             .clearValueCount = 1,
                             .pClearValues = &clear_value};
  vkCmdBeginRenderPass(cmd, &pass, VK_SUBPASS_CONTENTS_INLINE);
  ImGui_ImplVulkan_RenderDrawData(draw_data, cmd);
  vkCmdEndRenderPass(cmd);
  // The drawing finishes before the copy reads it, in the layout a copy wants.
  VkImageMemoryBarrier to_copy{.sType = VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER,
                               .srcAccessMask = VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT,
                               .dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT,
                               .oldLayout = VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL,
                               .newLayout = VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL,
                               .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                               .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                               .image = o.image,
                               .subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1}};
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT,
                       VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 0, nullptr, 0, nullptr, 1, &to_copy);
  VkBufferImageCopy region{.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1},
                           .imageExtent = {w, h, 1}};
  vkCmdCopyImageToBuffer(cmd, o.image, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, o.buffer, 1, &region);
  VkBufferMemoryBarrier to_host{.sType = VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER,
                                .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                                .dstAccessMask = VK_ACCESS_HOST_READ_BIT,
                                .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                                .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                                .buffer = o.buffer,
                                .size = VK_WHOLE_SIZE};
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 0,
                       nullptr, 1, &to_host, 0, nullptr);
  VK_CHECK(vkEndCommandBuffer(cmd));
  VkFenceCreateInfo fence{.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  VK_CHECK(vkCreateFence(vw.device, &fence, nullptr, &o.fence));
  VkSubmitInfo submit{
      .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cmd};
  VK_CHECK(vkQueueSubmit(vw.queue, 1, &submit, o.fence));
  VK_CHECK(vkWaitForFences(vw.device, 1, &o.fence, VK_TRUE, UINT64_MAX));
}

}  // namespace

void save_screenshot(VulkanWindow& vw, ImDrawData* draw_data, ImVec4 clear_color,
                     const std::string& path) {
  const VkFormat format = vw.wd.SurfaceFormat.format;
  if (format != VK_FORMAT_B8G8R8A8_UNORM && format != VK_FORMAT_R8G8B8A8_UNORM)
    throw std::runtime_error("screenshot: the swapchain's format is not 8-bit RGBA or BGRA");
  const auto w = static_cast<uint32_t>(vw.wd.Width), h = static_cast<uint32_t>(vw.wd.Height);
  // ImGui's vertex buffers of frames in flight are reused by this draw: wait for them first.
  VK_CHECK(vkDeviceWaitIdle(vw.device));
  Offscreen o{.device = vw.device};
  create_target(vw, o, format, w, h);
  record_and_run(vw, o, draw_data, clear_color, w, h);

  std::vector<uint8_t> rgba(static_cast<size_t>(w) * h * 4);
  void* mapped = nullptr;
  VK_CHECK(vkMapMemory(vw.device, o.buffer_memory, 0, VK_WHOLE_SIZE, 0, &mapped));
  std::memcpy(rgba.data(), mapped, rgba.size());
  vkUnmapMemory(vw.device, o.buffer_memory);
  for (size_t i = 0; i < rgba.size(); i += 4) {
    if (format == VK_FORMAT_B8G8R8A8_UNORM) std::swap(rgba[i], rgba[i + 2]);
    rgba[i + 3] = 255;  // the window is opaque whatever alpha ImGui blended into it
  }
  // Encoded in memory, then written as every vkmoe output is (never through a link).
  std::vector<uint8_t> png;
  auto append = [](void* ctx, void* data, int size) {
    auto* out = static_cast<std::vector<uint8_t>*>(ctx);
    out->insert(out->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
  };
  if (!stbi_write_png_to_func(append, &png, static_cast<int>(w), static_cast<int>(h), 4, rgba.data(),
                              static_cast<int>(w) * 4))
    throw std::runtime_error("screenshot: cannot encode " + path);
  write_file_safely(path, png);
}

}  // namespace vkmoe
