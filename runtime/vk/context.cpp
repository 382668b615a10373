#include "runtime/vk/context.h"

namespace vkmoe {

Context::Context(ContextOptions options) {
  instance_ = std::make_unique<Instance>(InstanceOptions{.validation = options.validation});
  devices_ = query_devices(*instance_);
  size_t chosen = choose_device(devices_, options.device);
  device_ = std::make_unique<Device>(*instance_, devices_[chosen]);
  allocator_ = std::make_unique<Allocator>(*device_);
  pipelines_ = std::make_unique<Pipelines>(*device_, options.cache_dir);
  transfer_ = std::make_unique<Transfer>(*device_, *allocator_);
  dummy_ = allocator_->create_buffer(256, MemoryUse::device, "unused input");
  sink_ = allocator_->create_buffer(256, MemoryUse::device, "unused output");
}

Context::~Context() {
  dummy_ = Buffer();
  sink_ = Buffer();
  transfer_.reset();
  pipelines_.reset();
  allocator_.reset();
  device_.reset();
  instance_.reset();
}

}  // namespace vkmoe
