// Everything a program needs to run kernels on one device, created and destroyed in order.
#pragma once
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "runtime/vk/caps.h"
#include "runtime/vk/device.h"
#include "runtime/vk/instance.h"
#include "runtime/vk/memory.h"
#include "runtime/vk/pipeline.h"
#include "runtime/vk/transfer.h"

namespace vkmoe {

struct ContextOptions {
  std::string device;              // --device: index or name substring; empty = best
  bool validation = false;         // also on with VKMOE_VALIDATE=1
  std::filesystem::path cache_dir; // pipeline cache; empty = default_cache_dir()
};

class Context {
 public:
  explicit Context(ContextOptions options = {});
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  Instance& instance() { return *instance_; }
  Device& device() { return *device_; }
  Allocator& allocator() { return *allocator_; }
  Pipelines& pipelines() { return *pipelines_; }
  Transfer& transfer() { return *transfer_; }
  const std::vector<DeviceCaps>& devices() const { return devices_; }
  // Small buffers bound where a kernel's optional binding is not used: dummy() for inputs (never
  // written), sink() for outputs the shader declares writable. Bind sink() with Access::write so
  // the barrier tracker orders its (never executed) writes, as synchronization validation expects.
  const Buffer& dummy() const { return dummy_; }
  const Buffer& sink() const { return sink_; }

 private:
  // Declaration order is destruction order reversed: transfer and pipelines go first.
  std::unique_ptr<Instance> instance_;
  std::vector<DeviceCaps> devices_;
  std::unique_ptr<Device> device_;
  std::unique_ptr<Allocator> allocator_;
  std::unique_ptr<Pipelines> pipelines_;
  std::unique_ptr<Transfer> transfer_;
  Buffer dummy_;
  Buffer sink_;
};

}  // namespace vkmoe
