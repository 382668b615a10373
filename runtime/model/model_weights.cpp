#include "runtime/model/model_weights.h"

#include <stdexcept>

#include "runtime/gguf/gguf_reader.h"
#include "runtime/util/progress.h"
#include "runtime/vk/context.h"

namespace vkmoe {

std::vector<BufferRange> DeviceTensor::ranges() const {
  std::vector<BufferRange> r;
  for (const auto& p : pieces) r.push_back(p.range());
  return r;
}

uint64_t DeviceTensor::bytes() const {
  uint64_t b = 0;
  for (const auto& p : pieces) b += p.size();
  return b;
}

const DeviceTensor* ModelWeights::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

const DeviceTensor& ModelWeights::get(const std::string& name) const {
  const DeviceTensor* t = find(name);
  if (!t) throw std::runtime_error("model has no tensor '" + name + "'");
  return *t;
}

ModelWeights upload_weights(Context& ctx, const GgufFile& file, const MemoryPlan& plan, bool progress) {
  if (plan.verdict == PlanVerdict::does_not_fit)
    throw std::runtime_error(file.name() + " does not fit:\n" + plan.summary(ctx.device().caps().name));
  uint64_t total = 0;
  for (const auto& t : plan.tensors) total += t.bytes;
  ModelWeights w;
  Progress bar("loading " + file.name(), total, progress && stderr_is_terminal());
  for (const auto& tp : plan.tensors) {
    const GgufTensorInfo* info = file.find_tensor(tp.name);
    if (!info) throw std::logic_error("plan names a tensor the file lacks: " + tp.name);
    auto data = file.tensor_data(*info);
    DeviceTensor dt;
    dt.name = tp.name;
    dt.type = tp.type;
    dt.shape = tp.shape;
    dt.experts = tp.experts;
    dt.spilled = tp.spilled;
    dt.units_per_piece = tp.units_per_piece;
    dt.unit_bytes = tp.unit_bytes;
    for (uint32_t p = 0; p < tp.pieces; ++p) {
      const uint64_t first = p * tp.units_per_piece;
      const uint64_t units = std::min(tp.units_per_piece, tp.units - first);
      const uint64_t offset = first * tp.unit_bytes;
      const uint64_t bytes = p + 1 == tp.pieces ? tp.bytes - offset : units * tp.unit_bytes;
      std::string name = tp.pieces > 1 ? tp.name + " [" + std::to_string(p) + "]" : tp.name;
      Buffer b = ctx.allocator().create_buffer(bytes, tp.spilled ? MemoryUse::spill : MemoryUse::device, name);
      ctx.transfer().upload(b, 0, data.data() + offset, bytes);
      bar.advance(bytes);
      dt.pieces.push_back(std::move(b));
    }
    w.tensors_.emplace(tp.name, std::move(dt));
  }
  w.report.bytes = total;
  w.report.seconds = bar.seconds();
  w.report.gb_per_s = progress ? bar.finish() : (w.report.seconds > 0 ? total / w.report.seconds / 1e9 : 0);
  return w;
}

}  // namespace vkmoe
