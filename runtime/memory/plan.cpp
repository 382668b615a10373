#include "runtime/memory/plan.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include "runtime/gguf/gguf_reader.h"
#include "runtime/model/model_config.h"
#include "runtime/vk/caps.h"

namespace vkmoe {

const char* verdict_name(PlanVerdict v) {
  switch (v) {
    case PlanVerdict::fits: return "fits";
    case PlanVerdict::fits_with_spill: return "fits with spill";
    case PlanVerdict::does_not_fit: return "does not fit";
  }
  return "?";
}

uint64_t parse_bytes(const std::string& text) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    throw std::invalid_argument("cannot read a size from '" + text + "' (examples: 8G, 512M, 1.5GiB)");
  }
  std::string unit = text.substr(used);
  for (auto& ch : unit) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  double mul = 1;
  if (unit == "" || unit == "B") mul = 1;
  else if (unit == "K" || unit == "KB" || unit == "KIB") mul = 1024.0;
  else if (unit == "M" || unit == "MB" || unit == "MIB") mul = 1024.0 * 1024;
  else if (unit == "G" || unit == "GB" || unit == "GIB") mul = 1024.0 * 1024 * 1024;
  else if (unit == "T" || unit == "TB" || unit == "TIB") mul = 1024.0 * 1024 * 1024 * 1024;
  else throw std::invalid_argument("unknown size unit in '" + text + "' (use K, M, G or T)");
  if (!(v >= 0) || v * mul > 1.8e19) throw std::invalid_argument("size '" + text + "' is out of range");
  return static_cast<uint64_t>(v * mul);
}

static uint64_t align_up(uint64_t x, uint64_t a) { return a ? (x + a - 1) / a * a : x; }

static uint32_t layer_of(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return UINT32_MAX;
  return static_cast<uint32_t>(std::strtoul(name.c_str() + 4, nullptr, 10));
}

// DeepSeek files with only attn_k_b / attn_v_b get kv_b rebuilt at load (deepseek2.cpp):
// [kv_lora, n_head * (nope + Dv)] in F32 when both parts are F32, else F16.
static uint64_t rebuilt_weight_bytes(const GgufFile& file, const ModelConfig& cfg, uint64_t align) {
  if (!cfg.kv_lora_rank) return 0;
  uint64_t sum = 0;
  for (uint32_t l = 0; l < cfg.n_layer; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    const GgufTensorInfo* kb = file.find_tensor(b + "attn_k_b.weight");
    const GgufTensorInfo* vb = file.find_tensor(b + "attn_v_b.weight");
    if (file.find_tensor(b + "attn_kv_b.weight") || !kb || !vb) continue;
    const bool f32 = kb->type == GgmlType::F32 && vb->type == GgmlType::F32;
    sum += align_up(uint64_t(cfg.n_head) * (cfg.qk_nope_dim + cfg.v_head_dim) * cfg.kv_lora_rank * (f32 ? 4 : 2), align);
  }
  return sum;
}

MemoryPlan plan_memory(const GgufFile& file, const ModelConfig& cfg, const DeviceCaps& caps, const PlanOptions& opt) {
  MemoryPlan plan;
  const uint64_t range = opt.max_piece ? std::min<uint64_t>(opt.max_piece, caps.max_storage_buffer_range)
                                       : caps.max_storage_buffer_range;
  const uint64_t max_alloc = caps.max_memory_allocation_size ? caps.max_memory_allocation_size : range;
  const uint64_t piece_limit = range;
  const uint64_t align = std::max<uint64_t>(256, caps.storage_buffer_alignment);

  for (const auto& t : file.tensors()) {
    if (cfg.skipped_tensor(t.name)) continue;  // NextN blocks are not run
    TensorPlan p;
    p.name = t.name;
    p.type = t.type;
    p.shape = t.shape;
    p.bytes = t.bytes;
    p.layer = layer_of(t.name);
    // Stacked expert weights; their small per-expert biases (gpt-oss's [F, E]) are plain vectors.
    p.experts = shape_rank(t.shape) <= 3 && t.name.find("_exps.") != std::string::npos && !t.name.ends_with(".bias");
    // Split unit: one expert of a stacked expert tensor, else one row.
    p.units = p.experts ? shape_dim(t.shape, 2) : std::max<uint64_t>(1, t.elements() / t.shape[0]);
    p.unit_bytes = p.units ? t.bytes / p.units : t.bytes;
    if (p.unit_bytes > piece_limit) {
      plan.error = t.name + ": one " + (p.experts ? "expert" : "row") + " takes " + format_bytes(p.unit_bytes) +
                   ", more than one storage binding on " + caps.name + " (" + format_bytes(piece_limit) + ")";
      p.units_per_piece = 1;
    } else {
      p.units_per_piece = std::max<uint64_t>(1, piece_limit / std::max<uint64_t>(1, p.unit_bytes));
      // Keep piece starts aligned for the binding offset rule: whole units per piece suffice since
      // each piece is its own buffer.
    }
    p.pieces = static_cast<uint32_t>((p.units + p.units_per_piece - 1) / p.units_per_piece);
    if (p.pieces > kMaxPlanPieces && plan.error.empty())
      plan.error = t.name + " (" + format_bytes(t.bytes) + ") needs " + std::to_string(p.pieces) +
                   " storage bindings of at most " + format_bytes(piece_limit) + " on " + caps.name +
                   "; the kernels address at most " + std::to_string(kMaxPlanPieces);
    if (t.bytes > max_alloc && plan.error.empty())
      plan.error = t.name + " (" + format_bytes(t.bytes) + ") is larger than one allocation may be on " + caps.name +
                   " (" + format_bytes(max_alloc) + ")";
    plan.weights += align_up(t.bytes, align);
    plan.tensors.push_back(std::move(p));
  }

  plan.weights += rebuilt_weight_bytes(file, cfg, align);
  // The KV cache, activations, logits and scratch: the same layout the Model allocates from.
  const uint32_t n_batch = std::clamp<uint32_t>(opt.n_batch, 1, std::max<uint32_t>(1, opt.n_ctx));
  plan.layout = activation_layout(cfg, n_batch, std::max<uint32_t>(1, opt.n_ctx), caps.storage_buffer_alignment,
                                  caps.max_storage_buffer_range, std::max<uint32_t>(1, opt.n_parallel));
  plan.kv_cache = plan.layout.bytes(MemoryCategory::kv_cache);
  plan.activations = plan.layout.bytes(MemoryCategory::activations);
  plan.logits = plan.layout.bytes(MemoryCategory::logits);
  plan.scratch = plan.layout.bytes(MemoryCategory::scratch);
  plan.staging = caps.unified_memory ? 0 : 2 * kStagingChunk;
  plan.overhead = 32ull << 20;

  // Budget: device-local heaps (VK_EXT_memory_budget's figure where present), capped by the user.
  uint64_t local = 0, host = 0;
  for (const auto& h : caps.heaps) (h.device_local ? local : host) += h.budget;
  plan.available = opt.mem_budget ? std::min(opt.mem_budget, local ? local : host) : local;
  plan.host_available = host ? host : local;

  if (!plan.error.empty()) {
    plan.verdict = PlanVerdict::does_not_fit;
    return plan;
  }
  if (plan.device_total() <= plan.available) return plan;
  if (!opt.spill) {
    plan.verdict = PlanVerdict::does_not_fit;
    return plan;
  }
  // Spill experts from the last layer backwards until the rest fits.
  for (uint32_t l = cfg.n_layer; l-- > 0 && plan.device_total() > plan.available;) {
    bool any = false;
    for (auto& t : plan.tensors)
      if (t.layer == l && t.experts && !t.spilled) {
        t.spilled = true;
        const uint64_t b = align_up(t.bytes, align);
        plan.weights -= b;
        plan.spilled += b;
        any = true;
      }
    if (any) plan.spilled_layers.insert(plan.spilled_layers.begin(), l);
  }
  plan.verdict = plan.device_total() <= plan.available && plan.spilled <= plan.host_available
                     ? PlanVerdict::fits_with_spill
                     : PlanVerdict::does_not_fit;
  return plan;
}

std::vector<PlanCategory> MemoryPlan::categories() const {
  return {{"weights", weights}, {"KV cache", kv_cache}, {"activations", activations}, {"logits", logits},
          {"scratch", scratch}, {"staging", staging}, {"other overhead", overhead}};
}

uint64_t MemoryPlan::planned(MemoryCategory c) const {
  switch (c) {
    case MemoryCategory::weights: return weights + spilled;
    case MemoryCategory::kv_cache: return kv_cache;
    case MemoryCategory::activations: return activations;
    case MemoryCategory::logits: return logits;
    case MemoryCategory::scratch: return scratch;
    case MemoryCategory::staging: return staging;
  }
  return 0;
}

std::string MemoryPlan::summary(const std::string& device_name) const {
  std::ostringstream o;
  o << "memory plan on " << device_name << ": " << verdict_name(verdict) << "\n";
  if (!error.empty()) o << "  " << error << "\n";
  for (const auto& c : categories()) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "  %-22s %12s\n", c.name, format_bytes(c.bytes).c_str());
    o << buf;
    if (std::string_view(c.name) == "KV cache" && layout.kv_ring) {  // the sliding-window layers' rings
      uint32_t n = 0;
      for (uint32_t l = 0; l < layout.n_layer; ++l) n += layout.ring(l);
      o << "    (" << n << " sliding-window layer(s) keep a ring of " << layout.kv_ring << " rows)\n";
    }
  }
  char buf[160];
  std::snprintf(buf, sizeof buf, "  %-22s %12s\n  %-22s %12s\n", "needed on the device", format_bytes(device_total()).c_str(),
                "available", format_bytes(available).c_str());
  o << buf;
  if (device_total() > available) {
    std::snprintf(buf, sizeof buf, "  %-22s %12s\n", "shortfall", format_bytes(device_total() - available).c_str());
    o << buf;
  }
  if (spilled) {
    o << "  spilled to system memory: " << format_bytes(spilled) << " (experts of layer";
    o << (spilled_layers.size() > 1 ? "s " : " ");
    for (size_t i = 0; i < spilled_layers.size(); ++i) o << (i ? "," : "") << spilled_layers[i];
    o << "; host memory available " << format_bytes(host_available) << ")\n";
  }
  if (verdict == PlanVerdict::does_not_fit && error.empty() && device_total() > available) {
    // Suggest only what could close the gap.
    const uint64_t short_by = device_total() - available;
    uint64_t expert_bytes = 0;
    for (const auto& t : tensors)
      if (t.experts && !t.spilled) expert_bytes += t.bytes;
    if (kv_cache >= short_by) o << "  a smaller context (-c) would fit: the KV cache takes " << format_bytes(kv_cache) << "\n";
    if (spilled == 0 && expert_bytes >= short_by)
      o << "  --spill would keep the last layers' experts in system memory (" << format_bytes(expert_bytes)
        << " of experts in all)\n";
    if (kv_cache < short_by && expert_bytes < short_by) o << "  this model needs a device with more memory\n";
  }
  return o.str();
}

}  // namespace vkmoe
