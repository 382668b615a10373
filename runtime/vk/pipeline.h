// Compute pipelines built from the embedded SPIR-V variants, cached in memory by description
// and on disk per device (lavapipe's JIT costs up to seconds per pipeline on first use).
#pragma once
#include <vulkan/vulkan.h>

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/vk/handle.h"
#include "runtime/vk/shader_table.h"

namespace vkmoe {

class Device;

struct PipelineDesc {
  std::string kernel;          // kernel name in shaders/variants.txt
  uint32_t bindings = 0;       // storage buffers at bindings 0..bindings-1 of set 0
  uint32_t push_size = 0;      // bytes of push constants
  std::vector<uint32_t> spec;  // specialization constants, constant_id 0..n-1
  std::string variant;         // force one variant by name ("" = the best the device runs)
  uint32_t subgroup_size = 0;  // require this subgroup size (0 = the driver's choice)
};

struct Pipeline {
  PipelineHandle pipeline;
  PipelineLayoutHandle layout;
  DescriptorSetLayoutHandle set_layout;
  uint32_t bindings = 0;
  uint32_t push_size = 0;
  bool push_descriptors = false;
  std::string variant;  // which variant was built
};

class Pipelines {
 public:
  // cache_dir: where the on-disk cache lives; empty = $VKMOE_CACHE_DIR, $XDG_CACHE_HOME/vkmoe
  // or ~/.cache/vkmoe. VKMOE_NO_PIPELINE_CACHE=1 turns the disk cache off.
  explicit Pipelines(Device& device, std::filesystem::path cache_dir = {});
  ~Pipelines();  // saves the disk cache
  Pipelines(const Pipelines&) = delete;
  Pipelines& operator=(const Pipelines&) = delete;

  const Pipeline& get(const PipelineDesc& desc);

  // Variants of a kernel this device can run, preferred first.
  std::vector<const ShaderVariant*> supported_variants(std::string_view kernel) const;
  const ShaderVariant& choose(std::string_view kernel, std::string_view forced = {}) const;

  void save() const;
  const std::filesystem::path& cache_file() const { return cache_file_; }
  size_t size() const;

 private:
  Device& device_;
  PipelineCacheHandle cache_;
  std::filesystem::path cache_file_;
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Pipeline>> pipelines_;
};

std::filesystem::path default_cache_dir();

}  // namespace vkmoe
