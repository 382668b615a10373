#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "runtime/vk/check.h"
#include "tests/gpu_fixture.h"

using namespace vkmoe;
using namespace vkmoe::test;

TEST_CASE_FIXTURE(GpuTest, "device creation records capabilities read from the device") {
  const auto& caps = ctx.device().caps();
  MESSAGE("device: " << caps.name << ", driver " << caps.driver_name);
  CHECK(caps.usable);
  CHECK(caps.api_version >= VK_API_VERSION_1_2);
  CHECK(caps.subgroup_size > 0);
  CHECK((caps.subgroup_size & (caps.subgroup_size - 1)) == 0);
  CHECK(caps.max_shared_memory >= 16384);  // Vulkan's minimum
  CHECK(caps.max_storage_buffer_range >= (1u << 27));
  CHECK(caps.max_memory_allocation_size >= caps.max_storage_buffer_range);
  CHECK(!caps.heaps.empty());
  CHECK(caps.device_local_bytes() > 0);
  CHECK(caps.compute_queue_family != UINT32_MAX);
  CHECK(ctx.device().queue() != VK_NULL_HANDLE);
  if (caps.memory_budget)
    for (const auto& h : caps.heaps) CHECK(h.budget <= h.size);
  // Enabled features never exceed what the device reports.
  const auto& f = ctx.device().features();
  CHECK((!f.fp16 || caps.shader_float16));
  CHECK((!f.storage8 || caps.storage_8bit));
  CHECK((!f.storage16 || caps.storage_16bit));
  CHECK((!f.push_descriptor || caps.push_descriptor));
  CHECK((!f.timestamps || caps.timestamps));
  CHECK(!f.coopmat);  // no cooperative-matrix shaders are built yet
}

TEST_CASE_FIXTURE(GpuTest, "feature lists from the variant table") {
  EnabledFeatures f;
  f.fp16 = true;
  CHECK(f.has_all(""));
  CHECK(f.has_all("fp16"));
  CHECK_FALSE(f.has_all("fp16,subgroup_arith"));
  CHECK_FALSE(f.has_all("fp61"));  // a typo never enables a variant
}

TEST_CASE_FIXTURE(GpuTest, "device choice by index, name and type order") {
  const auto& devices = ctx.devices();
  REQUIRE(!devices.empty());
  CHECK(choose_device(devices, "0") == 0);
  std::string part = devices[0].name.substr(0, 4);
  CHECK(devices[choose_device(devices, part)].name.find(part) != std::string::npos);
  CHECK_THROWS_WITH_AS(choose_device(devices, "no-such-gpu-xyz"),
                       doctest::Contains("no Vulkan device matches --device 'no-such-gpu-xyz'"),
                       std::runtime_error);
  CHECK_THROWS(choose_device(devices, "99"));

  // Preference: discrete > integrated > virtual > CPU, whatever the order of enumeration.
  std::vector<DeviceCaps> fake(3);
  fake[0].index = 0, fake[0].type = VK_PHYSICAL_DEVICE_TYPE_CPU;
  fake[1].index = 1, fake[1].type = VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU;
  fake[2].index = 2, fake[2].type = VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU;
  CHECK(choose_device(fake, "") == 2);
  fake[2].usable = false;
  CHECK(choose_device(fake, "") == 1);
}

TEST_CASE_FIXTURE(GpuTest, "devices --json lists the device with its capabilities") {
  auto j = nlohmann::json::parse(devices_json(ctx.devices()));
  REQUIRE(j.is_array());
  REQUIRE(j.size() == ctx.devices().size());
  const auto& d = j[ctx.device().caps().index];
  CHECK(d["name"] == ctx.device().caps().name);
  for (const char* key : {"vendor", "driver_name", "memory_heaps", "subgroup_size", "max_shared_memory",
                          "max_storage_buffer_range", "max_memory_allocation_size", "shader_float16",
                          "storage_8bit", "storage_16bit", "integer_dot_product", "cooperative_matrix",
                          "timestamps", "timestamp_period_ns", "memory_budget"})
    CHECK_MESSAGE(d.contains(key), key);
  CHECK(d["max_storage_buffer_range"].get<uint64_t>() == ctx.device().caps().max_storage_buffer_range);
}

TEST_CASE_FIXTURE(GpuTest, "VkResult errors name the call and the result") {
  try {
    VK_CHECK(VK_ERROR_OUT_OF_DEVICE_MEMORY);
    FAIL("VK_CHECK did not throw");
  } catch (const VkError& e) {
    CHECK(e.result() == VK_ERROR_OUT_OF_DEVICE_MEMORY);
    CHECK(std::string(e.what()).find("VK_ERROR_OUT_OF_DEVICE_MEMORY") != std::string::npos);
    CHECK(std::string(e.what()).find("device_test.cpp") != std::string::npos);
  }
}

TEST_CASE_FIXTURE(GpuTest, "the pipeline cache is stored per device") {
  const auto& pipe = ctx.pipelines().get({.kernel = "scale_add_u32", .bindings = 2, .push_size = 16});
  CHECK(pipe.pipeline.get() != VK_NULL_HANDLE);
  // The same description returns the same pipeline: no second JIT.
  CHECK(&ctx.pipelines().get({.kernel = "scale_add_u32", .bindings = 2, .push_size = 16}) == &pipe);
  if (!ctx.pipelines().cache_file().empty()) {
    ctx.pipelines().save();
    CHECK(std::filesystem::exists(ctx.pipelines().cache_file()));
  }
  CHECK_THROWS_WITH(ctx.pipelines().get({.kernel = "no_such_kernel", .bindings = 1}),
                    doctest::Contains("unknown kernel 'no_such_kernel'"));
}
