#include "runtime/model/model_weights.h"

#include <cstring>
#include <stdexcept>

#include "runtime/gguf/gguf_reader.h"
#include "runtime/quant/half.h"
#include "runtime/util/progress.h"
#include "runtime/vk/context.h"

namespace vkmoe {

const DeviceTensor* ModelWeights::find(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) return nullptr;
  used_.insert(name);
  return &it->second;
}

void ModelWeights::require_all_used(const GgufFile& file) const {
  size_t unused = 0;
  const GgufTensorInfo* first = nullptr;
  for (const auto& t : file.tensors())
    if (!used_.count(t.name) && !unused++) first = &t;
  if (first)
    throw std::runtime_error(file.name() + ": tensor '" + first->name + "' is not used by this model" +
                             (unused > 1 ? " (nor " + std::to_string(unused - 1) + " more)" : std::string()) +
                             "; vkmoe refuses files with tensors it would ignore (wrong block_count, or an "
                             "unsupported feature such as quantization scales)");
}

const DeviceTensor& ModelWeights::get(const std::string& name) const {
  const DeviceTensor* t = find(name);
  if (!t) throw std::runtime_error("model has no tensor '" + name + "'");
  return *t;
}

void require_kernel_type(const std::string& file, const std::string& tensor, GgmlType t, bool lookup_only) {
  if (lookup_only ? type_gpu_dequant(t) : type_supported(t)) return;
  throw std::runtime_error(file + ": tensor '" + tensor + "' has type " + std::string(ggml_type_name(t)) +
                           ", which vkmoe's GPU kernels do not run (README.md lists the types they take)");
}

namespace {

// The concatenation's tensor: shape [cols, sum of rows] (2-D) or [sum] (1-D), one binding.
DeviceTensor concat_tensor(const TensorConcat& c, const std::vector<const TensorPlan*>& parts) {
  DeviceTensor dt;
  dt.name = c.name;
  dt.type = parts[0]->type;
  dt.shape = parts[0]->shape;
  dt.shape.back() = 0;
  for (const TensorPlan* tp : parts) {
    if (tp->type != dt.type || tp->shape.size() != dt.shape.size() || tp->spilled || tp->experts ||
        (tp->shape.size() == 2 && tp->shape[0] != dt.shape[0]) || tp->shape.size() > 2)
      throw std::logic_error("cannot concatenate " + tp->name + " into " + c.name);
    dt.shape.back() += tp->shape.back();
    dt.bytes += tp->bytes;
  }
  return dt;
}

// A weight's data with its optional '<base>.scale' folded in: llama.cpp multiplies the
// projection's output by it (one value, one per expert of a 3-D tensor, or one per row), so
// scaling the rows of W gives the same product. F32 and F16 weights only; a quantized weight
// with a scale is refused, naming the tensor. '<base>.input_scale' llama.cpp loads but does not
// apply, so it is only marked used.
std::span<const uint8_t> fold_scale(const GgufFile& f, const std::string& name, std::span<const uint8_t> data,
                                    std::vector<uint8_t>& storage, ModelWeights& w) {
  if (!name.ends_with(".weight")) return data;
  const std::string base = name.substr(0, name.size() - 7);
  if (f.find_tensor(base + ".input_scale")) w.mark_used(base + ".input_scale");
  const GgufTensorInfo* s = f.find_tensor(base + ".scale");
  const GgufTensorInfo* t = f.find_tensor(name);
  if (!s) return data;
  w.mark_used(base + ".scale");
  const uint64_t cols = t->shape[0], rows = t->elements() / cols, n = s->elements();
  const uint64_t groups = shape_rank(t->shape) == 3 ? shape_dim(t->shape, 2) : rows;  // experts, or rows
  if (s->type != GgmlType::F32 || (n != 1 && n != groups))
    throw std::runtime_error(f.name() + ": tensor '" + base + ".scale' must be F32 with 1 or " + std::to_string(groups) +
                             " elements");
  if (t->type != GgmlType::F32 && t->type != GgmlType::F16)
    throw std::runtime_error(f.name() + ": tensor '" + base + ".scale' scales a " + std::string(ggml_type_name(t->type)) +
                             " weight; vkmoe folds such scales only into F32 and F16 weights");
  std::vector<float> scale(n);
  std::memcpy(scale.data(), f.tensor_data(*s).data(), n * 4);
  storage.assign(data.begin(), data.end());
  const uint64_t per_group = t->elements() / groups;
  for (uint64_t i = 0; i < t->elements(); ++i) {
    const float k = scale[n == 1 ? 0 : i / per_group];
    if (t->type == GgmlType::F32) {
      float v;
      std::memcpy(&v, storage.data() + i * 4, 4);
      v *= k;
      std::memcpy(storage.data() + i * 4, &v, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, storage.data() + i * 2, 2);
      h = f32_to_f16(f16_to_f32(h) * k);
      std::memcpy(storage.data() + i * 2, &h, 2);
    }
  }
  return storage;
}

}  // namespace

ModelWeights upload_weights(Context& ctx, const GgufFile& file, const MemoryPlan& plan, bool progress,
                            const std::vector<TensorConcat>& concat) {
  if (plan.verdict == PlanVerdict::does_not_fit)
    throw std::runtime_error(file.name() + " does not fit:\n" + plan.summary(ctx.device().caps().name));
  uint64_t total = 0;
  file.check_intact();  // the file may have been replaced since it was opened
  std::map<std::string, const TensorPlan*> planned;
  for (const auto& t : plan.tensors) {
    total += t.bytes;
    planned[t.name] = &t;
  }
  ModelWeights w;
  Progress bar("loading " + file.name(), total, progress && stderr_is_terminal());
  auto bytes_of = [&](const std::string& name) {
    const GgufTensorInfo* info = file.find_tensor(name);
    if (!info) throw std::logic_error("plan names a tensor the file lacks: " + name);
    return file.tensor_data(*info);
  };
  // Every concatenation is checked before anything is allocated.
  std::map<std::string, bool> in_concat;
  std::vector<DeviceTensor> joined;
  for (const auto& c : concat) {
    std::vector<const TensorPlan*> parts;
    for (const auto& name : c.parts) {
      auto it = planned.find(name);
      if (it == planned.end() || in_concat[name]) throw std::logic_error("cannot concatenate " + name + " into " + c.name);
      parts.push_back(it->second);
      in_concat[name] = true;
    }
    joined.push_back(concat_tensor(c, parts));
  }
  for (size_t i = 0; i < concat.size(); ++i) {
    const TensorConcat& c = concat[i];
    DeviceTensor& dt = joined[i];
    dt.buffer = ctx.allocator().create_buffer((dt.bytes + 15) / 16 * 16, MemoryUse::device, c.name);
    std::vector<uint8_t> host;
    host.reserve(dt.bytes);
    for (const auto& name : c.parts) {
      std::vector<uint8_t> storage;
      auto data = fold_scale(file, name, bytes_of(name), storage, w);
      host.insert(host.end(), data.begin(), data.end());
      w.mark_used(name);  // the model reads it through the concatenation
    }
    ctx.transfer().upload(dt.buffer, 0, host.data(), host.size());
    bar.advance(dt.bytes);
    w.tensors_.emplace(c.name, std::move(dt));
  }
  for (const auto& tp : plan.tensors) {
    if (in_concat.count(tp.name)) continue;
    std::vector<uint8_t> storage;
    auto data = fold_scale(file, tp.name, bytes_of(tp.name), storage, w);
    DeviceTensor dt;
    dt.name = tp.name;
    dt.type = tp.type;
    dt.shape = tp.shape;
    dt.experts = tp.experts;
    dt.spilled = tp.spilled;
    dt.bytes = tp.bytes;
    dt.pieces = tp.pieces;
    // Rounded up: kernels read whole 32-bit words, and a row may end mid-word.
    dt.buffer = ctx.allocator().create_buffer((tp.bytes + 15) / 16 * 16, tp.spilled ? MemoryUse::spill : MemoryUse::device,
                                              tp.name);
    ctx.transfer().upload(dt.buffer, 0, data.data(), tp.bytes);
    bar.advance(tp.bytes);
    w.tensors_.emplace(tp.name, std::move(dt));
  }
  file.check_intact();  // a file that shrank while being read gave zeros, not its weights
  w.report.bytes = total;
  w.report.seconds = bar.seconds();
  w.report.gb_per_s = progress ? bar.finish() : (w.report.seconds > 0 ? total / w.report.seconds / 1e9 : 0);
  return w;
}

}  // namespace vkmoe
