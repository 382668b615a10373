#include "runtime/vk/caps.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "runtime/vk/check.h"
#include "runtime/vk/instance.h"

namespace vkmoe {

bool DeviceCaps::has_extension(const char* ext) const {
  return std::find(extensions.begin(), extensions.end(), ext) != extensions.end();
}

uint64_t DeviceCaps::device_local_bytes() const {
  uint64_t total = 0;
  for (const auto& h : heaps)
    if (h.device_local) total += h.size;
  return total;
}

const char* DeviceCaps::type_name() const {
  switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
  }
}

std::string format_bytes(uint64_t b) {
  char buf[32];
  if (b >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", b / double(1ull << 30));
  else if (b >= (1ull << 20)) std::snprintf(buf, sizeof buf, "%.1f MiB", b / double(1ull << 20));
  else if (b >= 1024) std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
  else std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
  return buf;
}

std::string version_string(uint32_t v) {
  return std::to_string(VK_API_VERSION_MAJOR(v)) + "." + std::to_string(VK_API_VERSION_MINOR(v)) +
         "." + std::to_string(VK_API_VERSION_PATCH(v));
}

static std::string vendor_name(uint32_t id) {
  switch (id) {
    case 0x10DE: return "NVIDIA";
    case 0x1002: return "AMD";
    case 0x8086: return "Intel";
    case 0x10005: return "Mesa";
    case 0x13B5: return "ARM";
    case 0x5143: return "Qualcomm";
    case 0x106B: return "Apple";
    default: {
      char buf[16];
      std::snprintf(buf, sizeof buf, "0x%04x", id);
      return buf;
    }
  }
}

FeatureChain::FeatureChain(bool with_subgroup_size, bool with_int_dot) {
  features.pNext = &f11;
  f11.pNext = &f12;
  void** tail = &f12.pNext;
  if (with_subgroup_size) {
    *tail = &subgroup_size;
    tail = &subgroup_size.pNext;
  }
  if (with_int_dot) *tail = &int_dot;
}

static DeviceCaps query_one(VkPhysicalDevice pd, uint32_t index) {
  DeviceCaps c;
  c.index = index;
  c.physical = pd;

  uint32_t n = 0;
  VK_CHECK(vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, nullptr));
  std::vector<VkExtensionProperties> exts(n);
  VK_CHECK(vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, exts.data()));
  for (uint32_t i = 0; i < n; ++i) c.extensions.emplace_back(exts[i].extensionName);
  std::sort(c.extensions.begin(), c.extensions.end());

  VkPhysicalDeviceProperties base{};
  vkGetPhysicalDeviceProperties(pd, &base);
  c.api_version = base.apiVersion;
  c.name = base.deviceName;
  c.vendor_id = base.vendorID;
  c.vendor = vendor_name(base.vendorID);
  c.device_id = base.deviceID;
  c.type = base.deviceType;
  c.driver_version = base.driverVersion;
  const auto& lim = base.limits;
  c.max_shared_memory = lim.maxComputeSharedMemorySize;
  c.max_workgroup_invocations = lim.maxComputeWorkGroupInvocations;
  for (int i = 0; i < 3; ++i) {
    c.max_workgroup_size[i] = lim.maxComputeWorkGroupSize[i];
    c.max_workgroup_count[i] = lim.maxComputeWorkGroupCount[i];
  }
  c.max_storage_buffer_range = lim.maxStorageBufferRange;
  c.max_push_constants = lim.maxPushConstantsSize;
  c.storage_buffer_alignment = lim.minStorageBufferOffsetAlignment;
  c.non_coherent_atom_size = lim.nonCoherentAtomSize;
  c.timestamp_period_ns = lim.timestampPeriod;

  if (c.api_version < VK_API_VERSION_1_2) {
    c.usable = false;
    c.unusable_reason = "Vulkan " + version_string(c.api_version) + " (vkmoe needs 1.2)";
    return c;
  }
  const bool v13 = c.api_version >= VK_API_VERSION_1_3;
  const bool has_sg_control = v13 || c.has_extension(VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);
  const bool has_dot = v13 || c.has_extension(VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);

  // Properties: chain only what this device's version or extensions define.
  VkPhysicalDeviceProperties2 props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
  VkPhysicalDeviceVulkan11Properties p11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_PROPERTIES};
  VkPhysicalDeviceVulkan12Properties p12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_PROPERTIES};
  VkPhysicalDeviceMaintenance3Properties m3{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
  VkPhysicalDeviceSubgroupSizeControlPropertiesEXT sgp{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES_EXT};
  VkPhysicalDeviceShaderIntegerDotProductPropertiesKHR dotp{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_PROPERTIES_KHR};
  props.pNext = &p11;
  p11.pNext = &p12;
  p12.pNext = &m3;
  void** tail = &m3.pNext;
  if (has_sg_control) { *tail = &sgp; tail = &sgp.pNext; }
  if (has_dot) { *tail = &dotp; tail = &dotp.pNext; }
  vkGetPhysicalDeviceProperties2(pd, &props);

  c.driver_id = p12.driverID;
  c.driver_name = p12.driverName;
  c.driver_info = p12.driverInfo;
  std::memcpy(c.uuid.data(), p11.deviceUUID, VK_UUID_SIZE);
  c.subgroup_size = p11.subgroupSize;
  if (p11.subgroupSupportedStages & VK_SHADER_STAGE_COMPUTE_BIT)
    c.subgroup_ops = p11.subgroupSupportedOperations;
  c.max_memory_allocation_size = m3.maxMemoryAllocationSize;
  if (has_sg_control && (sgp.requiredSubgroupSizeStages & VK_SHADER_STAGE_COMPUTE_BIT)) {
    c.min_subgroup_size = sgp.minSubgroupSize;
    c.max_subgroup_size = sgp.maxSubgroupSize;
  }
  if (has_dot) c.integer_dot_4x8_accelerated = dotp.integerDotProduct4x8BitPackedSignedAccelerated;

  // Features.
  FeatureChain chain(has_sg_control, has_dot);
  vkGetPhysicalDeviceFeatures2(pd, &chain.features);
  const auto& feats = chain.features;
  const auto& f11 = chain.f11;
  const auto& f12 = chain.f12;
  const auto& sgf = chain.subgroup_size;
  const auto& dotf = chain.int_dot;

  c.shader_int16 = feats.features.shaderInt16;
  c.shader_int64 = feats.features.shaderInt64;
  c.storage_16bit = f11.storageBuffer16BitAccess;
  c.shader_float16 = f12.shaderFloat16;
  c.shader_int8 = f12.shaderInt8;
  c.storage_8bit = f12.storageBuffer8BitAccess;
  c.buffer_device_address = f12.bufferDeviceAddress;
  c.host_query_reset = f12.hostQueryReset;
  c.subgroup_size_control = has_sg_control && sgf.subgroupSizeControl && c.min_subgroup_size > 0;
  c.compute_full_subgroups = has_sg_control && sgf.computeFullSubgroups;
  c.integer_dot_product = has_dot && dotf.shaderIntegerDotProduct;
  c.cooperative_matrix =
      c.has_extension("VK_KHR_cooperative_matrix") || c.has_extension("VK_NV_cooperative_matrix");
  c.push_descriptor = c.has_extension(VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);

  // Memory, with the budget where the driver reports one.
  c.memory_budget = c.has_extension(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  VkPhysicalDeviceMemoryProperties2 mem{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2};
  VkPhysicalDeviceMemoryBudgetPropertiesEXT budget{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
  if (c.memory_budget) mem.pNext = &budget;
  vkGetPhysicalDeviceMemoryProperties2(pd, &mem);
  const auto& mp = mem.memoryProperties;
  for (uint32_t i = 0; i < mp.memoryHeapCount; ++i) {
    MemoryHeapCaps h;
    h.size = mp.memoryHeaps[i].size;
    h.device_local = mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT;
    h.budget = c.memory_budget ? budget.heapBudget[i] : h.size;
    h.usage = c.memory_budget ? budget.heapUsage[i] : 0;
    c.heaps.push_back(h);
  }
  bool any_local = false, all_local_visible = true;
  for (uint32_t i = 0; i < mp.memoryTypeCount; ++i) {
    c.memory_types.push_back({mp.memoryTypes[i].heapIndex, mp.memoryTypes[i].propertyFlags});
    if (mp.memoryTypes[i].propertyFlags & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) {
      any_local = true;
      bool visible = mp.memoryTypes[i].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT;
      // A heap is "unified" when some device-local type on it is host-visible.
      if (!visible) {
        bool heap_has_visible = false;
        for (uint32_t j = 0; j < mp.memoryTypeCount; ++j)
          if (mp.memoryTypes[j].heapIndex == mp.memoryTypes[i].heapIndex &&
              (mp.memoryTypes[j].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT))
            heap_has_visible = true;
        if (!heap_has_visible) all_local_visible = false;
      }
    }
  }
  c.unified_memory = any_local && all_local_visible;

  // Queues: prefer a compute family without graphics (async compute on discrete GPUs).
  uint32_t nq = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, nullptr);
  std::vector<VkQueueFamilyProperties> qf(nq);
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, qf.data());
  for (uint32_t i = 0; i < nq; ++i) {
    if (!(qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT)) continue;
    bool dedicated = !(qf[i].queueFlags & VK_QUEUE_GRAPHICS_BIT);
    if (c.compute_queue_family == UINT32_MAX || (dedicated && !c.dedicated_compute_queue)) {
      c.compute_queue_family = i;
      c.dedicated_compute_queue = dedicated;
      c.timestamp_valid_bits = qf[i].timestampValidBits;
    }
  }
  c.timestamps = c.timestamp_valid_bits > 0 && c.timestamp_period_ns > 0;
  if (c.compute_queue_family == UINT32_MAX) {
    c.usable = false;
    c.unusable_reason = "no compute queue";
  }
  return c;
}

std::vector<DeviceCaps> query_devices(const Instance& instance) {
  uint32_t n = 0;
  VK_CHECK(vkEnumeratePhysicalDevices(instance.get(), &n, nullptr));
  std::vector<VkPhysicalDevice> pds(n);
  VK_CHECK(vkEnumeratePhysicalDevices(instance.get(), &n, pds.data()));
  std::vector<DeviceCaps> out;
  for (uint32_t i = 0; i < n; ++i) out.push_back(query_one(pds[i], i));
  return out;
}

static int type_rank(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 4;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 3;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 1;
    default: return 0;
  }
}

static std::string lower(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

size_t choose_device(const std::vector<DeviceCaps>& devices, const std::string& selector) {
  auto names = [&] {
    std::string s;
    for (const auto& d : devices)
      s += "\n  " + std::to_string(d.index) + ": " + d.name + " (" + d.type_name() + ", " +
           d.driver_name + (d.usable ? "" : ", unusable: " + d.unusable_reason) + ")";
    return s.empty() ? std::string("\n  (none: is a Vulkan driver installed? Debian: mesa-vulkan-drivers)") : s;
  };
  if (selector.empty()) {
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < devices.size(); ++i) {
      if (!devices[i].usable) continue;
      if (best == SIZE_MAX) { best = i; continue; }
      int a = type_rank(devices[i].type), b = type_rank(devices[best].type);
      if (a > b || (a == b && devices[i].device_local_bytes() > devices[best].device_local_bytes()))
        best = i;
    }
    if (best == SIZE_MAX) throw std::runtime_error("no usable Vulkan device. Devices:" + names());
    return best;
  }
  bool numeric = std::all_of(selector.begin(), selector.end(), ::isdigit);
  for (size_t i = 0; i < devices.size(); ++i) {
    bool match = numeric ? std::to_string(devices[i].index) == selector
                         : lower(devices[i].name).find(lower(selector)) != std::string::npos ||
                               lower(devices[i].driver_name).find(lower(selector)) != std::string::npos;
    if (!match) continue;
    if (!devices[i].usable)
      throw std::runtime_error("device '" + selector + "' (" + devices[i].name +
                               ") cannot be used: " + devices[i].unusable_reason);
    return i;
  }
  throw std::runtime_error("no Vulkan device matches --device '" + selector + "'. Devices:" + names());
}

static std::string subgroup_ops_string(VkSubgroupFeatureFlags f) {
  static const std::pair<VkSubgroupFeatureFlagBits, const char*> names[] = {
      {VK_SUBGROUP_FEATURE_BASIC_BIT, "basic"},       {VK_SUBGROUP_FEATURE_VOTE_BIT, "vote"},
      {VK_SUBGROUP_FEATURE_ARITHMETIC_BIT, "arith"},  {VK_SUBGROUP_FEATURE_BALLOT_BIT, "ballot"},
      {VK_SUBGROUP_FEATURE_SHUFFLE_BIT, "shuffle"},   {VK_SUBGROUP_FEATURE_SHUFFLE_RELATIVE_BIT, "shuffle_rel"},
      {VK_SUBGROUP_FEATURE_CLUSTERED_BIT, "clustered"}, {VK_SUBGROUP_FEATURE_QUAD_BIT, "quad"}};
  std::string s;
  for (auto [bit, name] : names)
    if (f & bit) s += (s.empty() ? "" : ",") + std::string(name);
  return s.empty() ? "none" : s;
}

static std::string uuid_string(const std::array<uint8_t, VK_UUID_SIZE>& u) {
  std::string s;
  char buf[3];
  for (auto b : u) {
    std::snprintf(buf, sizeof buf, "%02x", b);
    s += buf;
  }
  return s;
}

std::string devices_table(const std::vector<DeviceCaps>& devices) {
  std::ostringstream o;
  auto yn = [](bool b) { return b ? "yes" : "no"; };
  for (const auto& d : devices) {
    o << "Device " << d.index << ": " << d.name << "\n";
    auto row = [&](const char* k, const std::string& v) {
      char buf[40];
      std::snprintf(buf, sizeof buf, "  %-28s", k);
      o << buf << v << "\n";
    };
    row("vendor", d.vendor + " (device 0x" + [&] { char b[16]; std::snprintf(b, sizeof b, "%04x", d.device_id); return std::string(b); }() + ")");
    row("type", d.type_name());
    row("driver", d.driver_name + " " + d.driver_info);
    row("Vulkan", version_string(d.api_version));
    if (!d.usable) row("usable", std::string("no: ") + d.unusable_reason);
    for (size_t i = 0; i < d.heaps.size(); ++i) {
      const auto& h = d.heaps[i];
      row(("heap " + std::to_string(i)).c_str(),
          format_bytes(h.size) + (h.device_local ? " device-local" : " host") +
              (d.memory_budget ? ", budget " + format_bytes(h.budget) + ", used " + format_bytes(h.usage) : ""));
    }
    row("memory budget ext", yn(d.memory_budget));
    row("unified memory", yn(d.unified_memory));
    row("subgroup size", std::to_string(d.subgroup_size) +
                             (d.subgroup_size_control ? " (control " + std::to_string(d.min_subgroup_size) + ".." +
                                                            std::to_string(d.max_subgroup_size) + ")"
                                                      : ""));
    row("subgroup ops (compute)", subgroup_ops_string(d.subgroup_ops));
    row("shared memory", format_bytes(d.max_shared_memory));
    row("max workgroup invocations", std::to_string(d.max_workgroup_invocations));
    row("maxStorageBufferRange", format_bytes(d.max_storage_buffer_range));
    row("maxMemoryAllocationSize", format_bytes(d.max_memory_allocation_size));
    row("fp16 arithmetic", yn(d.shader_float16));
    row("int8 arithmetic", yn(d.shader_int8));
    row("16-bit / 8-bit storage", std::string(yn(d.storage_16bit)) + " / " + yn(d.storage_8bit));
    row("integer dot product", std::string(yn(d.integer_dot_product)) +
                                   (d.integer_dot_4x8_accelerated ? " (accelerated)" : ""));
    row("cooperative matrix", yn(d.cooperative_matrix));
    row("push descriptors", yn(d.push_descriptor));
    row("buffer device address", yn(d.buffer_device_address));
    char ts[64];
    std::snprintf(ts, sizeof ts, "%s (%u bits, %.3g ns/tick)", yn(d.timestamps), d.timestamp_valid_bits,
                  d.timestamp_period_ns);
    row("timestamps", ts);
    row("compute queue family", std::to_string(d.compute_queue_family) +
                                    (d.dedicated_compute_queue ? " (dedicated)" : " (shared with graphics)"));
  }
  return o.str();
}

std::string devices_json(const std::vector<DeviceCaps>& devices) {
  nlohmann::ordered_json arr = nlohmann::ordered_json::array();
  for (const auto& d : devices) {
    nlohmann::ordered_json j;
    j["index"] = d.index;
    j["name"] = d.name;
    j["vendor"] = d.vendor;
    j["vendor_id"] = d.vendor_id;
    j["device_id"] = d.device_id;
    j["type"] = d.type_name();
    j["api_version"] = version_string(d.api_version);
    j["driver_name"] = d.driver_name;
    j["driver_info"] = d.driver_info;
    j["driver_version"] = d.driver_version;
    j["uuid"] = uuid_string(d.uuid);
    j["usable"] = d.usable;
    if (!d.usable) j["unusable_reason"] = d.unusable_reason;
    auto heaps = nlohmann::ordered_json::array();
    for (const auto& h : d.heaps)
      heaps.push_back({{"size", h.size}, {"budget", h.budget}, {"usage", h.usage}, {"device_local", h.device_local}});
    j["memory_heaps"] = heaps;
    auto types = nlohmann::ordered_json::array();
    for (const auto& t : d.memory_types)
      types.push_back({{"heap", t.heap},
                       {"device_local", bool(t.flags & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT)},
                       {"host_visible", bool(t.flags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT)},
                       {"host_coherent", bool(t.flags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT)},
                       {"host_cached", bool(t.flags & VK_MEMORY_PROPERTY_HOST_CACHED_BIT)}});
    j["memory_types"] = types;
    j["memory_budget"] = d.memory_budget;
    j["unified_memory"] = d.unified_memory;
    j["subgroup_size"] = d.subgroup_size;
    j["subgroup_ops"] = subgroup_ops_string(d.subgroup_ops);
    j["subgroup_size_control"] = d.subgroup_size_control;
    j["min_subgroup_size"] = d.min_subgroup_size;
    j["max_subgroup_size"] = d.max_subgroup_size;
    j["max_shared_memory"] = d.max_shared_memory;
    j["max_workgroup_invocations"] = d.max_workgroup_invocations;
    j["max_workgroup_count"] = d.max_workgroup_count;
    j["max_storage_buffer_range"] = d.max_storage_buffer_range;
    j["max_memory_allocation_size"] = d.max_memory_allocation_size;
    j["shader_float16"] = d.shader_float16;
    j["shader_int8"] = d.shader_int8;
    j["storage_16bit"] = d.storage_16bit;
    j["storage_8bit"] = d.storage_8bit;
    j["integer_dot_product"] = d.integer_dot_product;
    j["integer_dot_4x8_accelerated"] = d.integer_dot_4x8_accelerated;
    j["cooperative_matrix"] = d.cooperative_matrix;
    j["push_descriptor"] = d.push_descriptor;
    j["buffer_device_address"] = d.buffer_device_address;
    j["timestamps"] = d.timestamps;
    j["timestamp_valid_bits"] = d.timestamp_valid_bits;
    j["timestamp_period_ns"] = d.timestamp_period_ns;
    j["compute_queue_family"] = d.compute_queue_family;
    j["dedicated_compute_queue"] = d.dedicated_compute_queue;
    arr.push_back(j);
  }
  return arr.dump(2);
}

}  // namespace vkmoe
