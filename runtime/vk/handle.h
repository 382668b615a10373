// Move-only owner of one Vulkan handle. The deleter knows which parent (instance or device)
// destroys it, so the wrapper stays one pointer plus one handle.
#pragma once
#include <vulkan/vulkan.h>

#include <utility>

namespace vkmoe {

template <typename T, typename Parent, void (*Destroy)(Parent, T, const VkAllocationCallbacks*)>
class Handle {
 public:
  Handle() = default;
  Handle(Parent parent, T handle) : parent_(parent), handle_(handle) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : parent_(o.parent_), handle_(std::exchange(o.handle_, T{})) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      parent_ = o.parent_;
      handle_ = std::exchange(o.handle_, T{});
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  T get() const { return handle_; }
  operator T() const { return handle_; }  // NOLINT: handles pass straight to vk* calls
  explicit operator bool() const { return handle_ != T{}; }
  void reset() {
    if (handle_ != T{}) Destroy(parent_, handle_, nullptr);
    handle_ = T{};
  }

 private:
  Parent parent_{};
  T handle_{};
};

using BufferHandle = Handle<VkBuffer, VkDevice, vkDestroyBuffer>;
using MemoryHandle = Handle<VkDeviceMemory, VkDevice, vkFreeMemory>;
using FenceHandle = Handle<VkFence, VkDevice, vkDestroyFence>;
using CommandPoolHandle = Handle<VkCommandPool, VkDevice, vkDestroyCommandPool>;
using DescriptorPoolHandle = Handle<VkDescriptorPool, VkDevice, vkDestroyDescriptorPool>;
using DescriptorSetLayoutHandle = Handle<VkDescriptorSetLayout, VkDevice, vkDestroyDescriptorSetLayout>;
using PipelineLayoutHandle = Handle<VkPipelineLayout, VkDevice, vkDestroyPipelineLayout>;
using PipelineHandle = Handle<VkPipeline, VkDevice, vkDestroyPipeline>;
using PipelineCacheHandle = Handle<VkPipelineCache, VkDevice, vkDestroyPipelineCache>;
using ShaderModuleHandle = Handle<VkShaderModule, VkDevice, vkDestroyShaderModule>;
using QueryPoolHandle = Handle<VkQueryPool, VkDevice, vkDestroyQueryPool>;

}  // namespace vkmoe
