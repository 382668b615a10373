#include "runtime/vk/pipeline.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "runtime/util/safe_file.h"
#include "runtime/vk/check.h"
#include "runtime/vk/device.h"
#include "runtime/vk/instance.h"

namespace vkmoe {

std::filesystem::path default_cache_dir() {
  if (const char* e = std::getenv("VKMOE_CACHE_DIR"); e && *e) return e;
  if (const char* e = std::getenv("XDG_CACHE_HOME"); e && *e) return std::filesystem::path(e) / "vkmoe";
  if (const char* e = std::getenv("HOME"); e && *e) return std::filesystem::path(e) / ".cache" / "vkmoe";
  return {};
}

static std::vector<char> read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return {};
  return std::vector<char>(std::istreambuf_iterator<char>(f), {});
}

Pipelines::Pipelines(Device& device, std::filesystem::path cache_dir) : device_(device) {
  if (cache_dir.empty()) cache_dir = default_cache_dir();
  VkPhysicalDeviceProperties props;
  vkGetPhysicalDeviceProperties(device.physical(), &props);

  std::vector<char> data;
  if (!cache_dir.empty() && !env_flag("VKMOE_NO_PIPELINE_CACHE")) {
    // Keyed by the device UUID and driver version (what identifies the compiled code); the
    // header check below also compares the driver's own pipelineCacheUUID.
    const auto& uuid_bytes = device.caps().uuid;
    char uuid[2 * VK_UUID_SIZE + 1];
    for (uint32_t i = 0; i < VK_UUID_SIZE; ++i) std::snprintf(uuid + 2 * i, 3, "%02x", uuid_bytes[i]);
    cache_file_ = cache_dir / ("pipelines-" + std::string(uuid) + "-" + std::to_string(props.driverVersion) + ".bin");
    data = read_file(cache_file_);
    // Check the header ourselves: some drivers crash on a foreign or damaged cache.
    bool ok = data.size() >= 16 + VK_UUID_SIZE;
    if (ok) {
      uint32_t hdr[4];
      std::memcpy(hdr, data.data(), sizeof hdr);
      ok = hdr[0] >= 16 + VK_UUID_SIZE && hdr[1] == VK_PIPELINE_CACHE_HEADER_VERSION_ONE &&
           hdr[2] == props.vendorID && hdr[3] == props.deviceID &&
           std::memcmp(data.data() + 16, props.pipelineCacheUUID, VK_UUID_SIZE) == 0;
    }
    if (!ok) data.clear();
  }
  VkPipelineCacheCreateInfo info{VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
  info.initialDataSize = data.size();
  info.pInitialData = data.empty() ? nullptr : data.data();
  VkPipelineCache cache = VK_NULL_HANDLE;
  VK_CHECK(vkCreatePipelineCache(device.get(), &info, nullptr, &cache));
  cache_ = PipelineCacheHandle(device.get(), cache);
}

Pipelines::~Pipelines() {
  try {
    save();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vkmoe: could not save the pipeline cache: %s\n", e.what());
  }
}

void Pipelines::save() const {
  if (cache_file_.empty()) return;
  size_t n = 0;
  VK_CHECK(vkGetPipelineCacheData(device_.get(), cache_.get(), &n, nullptr));
  std::vector<char> data(n);
  VK_CHECK(vkGetPipelineCacheData(device_.get(), cache_.get(), &n, data.data()));
  std::error_code ec;
  std::filesystem::create_directories(cache_file_.parent_path(), ec);
  if (ec) return;  // a read-only home is not an error: the cache is only a speed-up
  try {
    write_file_safely(cache_file_, {reinterpret_cast<const uint8_t*>(data.data()), n});
  } catch (const std::exception&) {
    // a read-only cache is not an error either
  }
}

size_t Pipelines::size() const {
  std::lock_guard lock(mutex_);
  return pipelines_.size();
}

std::vector<const ShaderVariant*> Pipelines::supported_variants(std::string_view kernel) const {
  std::vector<const ShaderVariant*> out;
  for (const auto& v : shader_variants())
    if (kernel == v.kernel && device_.features().has_all(v.needs)) out.push_back(&v);
  return out;
}

const ShaderVariant& Pipelines::choose(std::string_view kernel, std::string_view forced) const {
  bool known = false;
  for (const auto& v : shader_variants()) {
    if (kernel != v.kernel) continue;
    known = true;
    if (!forced.empty()) {
      if (forced != v.name) continue;
      if (!device_.features().has_all(v.needs))
        throw std::runtime_error("shader variant " + std::string(v.name) + " needs " + v.needs +
                                 ", which " + device_.caps().name + " lacks");
      return v;
    }
    if (device_.features().has_all(v.needs)) return v;
  }
  throw std::runtime_error(known ? "no variant of kernel '" + std::string(kernel) + "'" +
                                       (forced.empty() ? "" : " named '" + std::string(forced) + "'") +
                                       " runs on " + device_.caps().name
                                 : "unknown kernel '" + std::string(kernel) + "'");
}

const Pipeline& Pipelines::get(const PipelineDesc& desc) {
  const ShaderVariant& variant = choose(desc.kernel, desc.variant);
  std::string key = std::string(variant.name) + "/" + std::to_string(desc.bindings) + "/" +
                    std::to_string(desc.push_size) + "/" + std::to_string(desc.subgroup_size);
  for (uint32_t s : desc.spec) key += "/" + std::to_string(s);
  // The set layout differs with push descriptors; tests switch them off to cover the fallback.
  key += device_.features().push_descriptor ? "/push" : "/sets";

  std::lock_guard lock(mutex_);
  if (auto it = pipelines_.find(key); it != pipelines_.end()) return *it->second;

  if (desc.push_size > device_.caps().max_push_constants)
    throw std::runtime_error("kernel " + desc.kernel + " needs " + std::to_string(desc.push_size) +
                             " bytes of push constants; the device allows " +
                             std::to_string(device_.caps().max_push_constants));
  VkDevice dev = device_.get();
  auto p = std::make_unique<Pipeline>();
  p->bindings = desc.bindings;
  p->push_size = desc.push_size;
  p->variant = variant.name;
  p->push_descriptors = device_.features().push_descriptor;

  std::vector<VkDescriptorSetLayoutBinding> bindings(desc.bindings);
  for (uint32_t i = 0; i < desc.bindings; ++i)
    bindings[i] = {i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
  VkDescriptorSetLayoutCreateInfo sl{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  sl.bindingCount = desc.bindings;
  sl.pBindings = bindings.data();
  if (p->push_descriptors) sl.flags = VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR;
  VkDescriptorSetLayout set_layout;
  VK_CHECK(vkCreateDescriptorSetLayout(dev, &sl, nullptr, &set_layout));
  p->set_layout = DescriptorSetLayoutHandle(dev, set_layout);

  VkPushConstantRange pc{VK_SHADER_STAGE_COMPUTE_BIT, 0, desc.push_size};
  VkPipelineLayoutCreateInfo pl{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  pl.setLayoutCount = 1;
  pl.pSetLayouts = &set_layout;
  pl.pushConstantRangeCount = desc.push_size ? 1 : 0;
  pl.pPushConstantRanges = &pc;
  VkPipelineLayout layout;
  VK_CHECK(vkCreatePipelineLayout(dev, &pl, nullptr, &layout));
  p->layout = PipelineLayoutHandle(dev, layout);

  VkShaderModuleCreateInfo sm{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  sm.codeSize = variant.words * 4;
  sm.pCode = variant.code;
  VkShaderModule module;
  VK_CHECK(vkCreateShaderModule(dev, &sm, nullptr, &module));
  ShaderModuleHandle module_owner(dev, module);

  std::vector<VkSpecializationMapEntry> entries(desc.spec.size());
  for (uint32_t i = 0; i < desc.spec.size(); ++i) entries[i] = {i, i * 4u, 4};
  VkSpecializationInfo spec{static_cast<uint32_t>(entries.size()), entries.data(), desc.spec.size() * 4,
                            desc.spec.data()};

  VkPipelineShaderStageRequiredSubgroupSizeCreateInfoEXT sg{
      VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_REQUIRED_SUBGROUP_SIZE_CREATE_INFO_EXT};
  VkComputePipelineCreateInfo ci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  ci.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
  ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  ci.stage.module = module;
  ci.stage.pName = "main";
  ci.stage.pSpecializationInfo = desc.spec.empty() ? nullptr : &spec;
  if (desc.subgroup_size) {
    const auto& c = device_.caps();
    if (!device_.features().subgroup_size_control || desc.subgroup_size < c.min_subgroup_size ||
        desc.subgroup_size > c.max_subgroup_size)
      throw std::runtime_error("kernel " + desc.kernel + " asks for subgroup size " +
                               std::to_string(desc.subgroup_size) + ", which " + c.name + " cannot set");
    sg.requiredSubgroupSize = desc.subgroup_size;
    ci.stage.pNext = &sg;
  }
  ci.layout = layout;
  VkPipeline pipeline;
  VK_CHECK(vkCreateComputePipelines(dev, cache_.get(), 1, &ci, nullptr, &pipeline));
  p->pipeline = PipelineHandle(dev, pipeline);
  device_.set_name(VK_OBJECT_TYPE_PIPELINE, reinterpret_cast<uint64_t>(pipeline), variant.name);
  return *pipelines_.emplace(key, std::move(p)).first->second;
}

}  // namespace vkmoe
