#include <cstdio>

#include "runtime/service/args.h"
#include "apps/vkmoe/commands.h"
#include "runtime/kernels/selfcheck.h"
#include "runtime/vk/context.h"

namespace vkmoe {

int cmd_devices(const std::vector<std::string>& argv) {
  Args args(argv, {}, {"--json"});
  Instance instance(InstanceOptions{});
  auto devices = query_devices(instance);
  if (args.has("--json")) {
    std::printf("%s\n", devices_json(devices).c_str());
    return 0;
  }
  if (devices.empty()) {
    std::printf("no Vulkan devices (is a driver installed? Debian: mesa-vulkan-drivers)\n");
    return 1;
  }
  std::printf("%s", devices_table(devices).c_str());
  std::printf("\ndefault device: %s\n", devices[choose_device(devices, "")].name.c_str());
  return 0;
}

int cmd_selfcheck(const std::vector<std::string>& argv) {
  Args args(argv, {"--device"}, {});
  Context ctx({.device = args.get("--device")});
  const auto& caps = ctx.device().caps();
  std::printf("device: %s (%s, %s %s)\n", caps.name.c_str(), caps.type_name(), caps.driver_name.c_str(),
              caps.driver_info.c_str());
  std::printf("features on: %s\n", ctx.device().features().describe().c_str());
  auto result = run_self_check(ctx);
  for (const auto& l : result.lines) std::printf("%s\n", l.c_str());
  std::printf("self-check %s\n", result.ok ? "passed" : "FAILED");
  return result.ok ? 0 : 1;
}

}  // namespace vkmoe
