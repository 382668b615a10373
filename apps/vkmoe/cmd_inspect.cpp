// vkmoe inspect model.gguf: hyperparameters, tensors, expert bytes, active bytes per token and
// the memory plan against every device.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "runtime/service/args.h"
#include "apps/vkmoe/commands.h"
#include "apps/vkmoe/inspect_types.h"
#include "runtime/gguf/gguf_reader.h"
#include "runtime/memory/plan.h"
#include "runtime/model/model.h"
#include "runtime/model/model_config.h"
#include "runtime/model/model_stats.h"
#include "runtime/model/model_weights.h"
#include "runtime/vk/context.h"
#include "runtime/vk/caps.h"
#include "runtime/vk/instance.h"

namespace vkmoe {

static std::string shape_string(const std::vector<uint64_t>& shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? " x " : "") + std::to_string(shape[i]);
  return s;
}

static std::string count_string(uint64_t n) {
  char buf[32];
  if (n >= 1000000000ull) std::snprintf(buf, sizeof buf, "%.2fB", n / 1e9);
  else if (n >= 1000000ull) std::snprintf(buf, sizeof buf, "%.2fM", n / 1e6);
  else std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(n));
  return buf;
}

// Loads the weights as a run would and prints where every tensor's bytes live: the memory block,
// the offset inside it, and for stacked experts the stride from one expert to the next.
static void print_placement(const std::string& device, const GgufFile& file, const ModelConfig& cfg, const PlanOptions& opt) {
  Context ctx({.device = device});
  auto plan = plan_memory(file, cfg, ctx.device().caps(), opt);
  auto weights = upload_weights(ctx, file, plan, true);
  std::printf("\nplacement on %s:\n%-36s %6s %14s %12s %7s  %s\n", ctx.device().caps().name.c_str(), "tensor", "block",
              "offset", "bytes", "pieces", "experts");
  for (const auto& tp : plan.tensors) {
    const auto& t = weights.get(tp.name);
    std::string experts;
    if (t.experts)
      experts = std::to_string(tp.units) + " x " + format_bytes(tp.unit_bytes) + ": expert e at offset + e * " +
                std::to_string(tp.unit_bytes);
    std::printf("%-36s %6u %14llu %12llu %7u  %s%s\n", tp.name.c_str(), t.buffer.block(),
                static_cast<unsigned long long>(t.buffer.block_offset()), static_cast<unsigned long long>(t.bytes), t.pieces,
                experts.c_str(), t.spilled ? " (system memory)" : "");
  }
  auto stats = ctx.allocator().stats();
  std::printf("\n%zu memory blocks, %s reserved, %s used:\n", stats.blocks.size(), format_bytes(stats.reserved).c_str(),
              format_bytes(stats.used).c_str());
  for (size_t i = 0; i < stats.blocks.size(); ++i)
    std::printf("  block %zu: memory type %u, %s, %s used%s\n", i, stats.blocks[i].memory_type,
                format_bytes(stats.blocks[i].size).c_str(), format_bytes(stats.blocks[i].used).c_str(),
                stats.blocks[i].host_visible ? ", host-visible" : "");
}

// Loads the model as a run would (without the warm-up token) and returns the bytes planned and
// the bytes actually allocated, per category and in total.
static std::vector<Model::MemoryRow> load_and_measure(const std::string& path, const std::string& device, const PlanOptions& opt) {
  Context ctx({.device = device});
  Model model(ctx, GgufFile::open(path),
              {.n_ctx = opt.n_ctx, .n_batch = opt.n_batch, .n_parallel = opt.n_parallel, .mem_budget = opt.mem_budget, .spill = opt.spill,
               .progress = false, .warm_up = false});
  return model.memory_rows();
}

static void print_memory_rows(const std::vector<Model::MemoryRow>& rows) {
  std::printf("\nmemory planned and allocated (a loaded model):\n  %-12s %14s %14s\n", "", "planned", "allocated");
  for (const auto& r : rows)
    std::printf("  %-12s %14s %14s\n", r.category.c_str(), format_bytes(r.planned).c_str(), format_bytes(r.allocated).c_str());
}

static nlohmann::ordered_json memory_rows_json(const std::vector<Model::MemoryRow>& rows) {
  nlohmann::ordered_json j, cats;
  for (const auto& r : rows) {
    if (r.category == "total") {
      j["planned_bytes"] = r.planned;
      j["allocated_bytes"] = r.allocated;
    } else {
      cats[r.category] = {{"planned_bytes", r.planned}, {"allocated_bytes", r.allocated}};
    }
  }
  j["categories"] = cats;
  return j;
}

// Without Vulkan, the plan is made for a device with 4 GiB bindings and --mem-budget of memory
// (as much as the model needs without it), so its arithmetic still shows.
static DeviceCaps hypothetical_device(uint64_t mem_budget) {
  DeviceCaps d;
  d.name = "a hypothetical device (Vulkan unavailable)";
  d.usable = true;
  d.max_storage_buffer_range = 0xffffffffull;
  MemoryHeapCaps heap;
  heap.device_local = true;
  heap.size = heap.budget = mem_budget ? mem_budget : (1ull << 50);
  d.heaps.push_back(heap);
  return d;
}

int cmd_inspect(const std::vector<std::string>& argv) {
  Args args(argv, {"--device", "-c", "--ctx", "--batch", "-np", "--parallel", "--mem-budget"},
            {"--json", "--spill", "--tensors", "--load"});
  if (args.positional().size() != 1) throw std::invalid_argument("usage: vkmoe inspect model.gguf [--device N] [-c N] [-np N] [--mem-budget 8G] [--spill] [--json] [--load] [--tensors]");
  const std::string path = args.positional()[0];
  PlanOptions opt;
  opt.n_ctx = static_cast<uint32_t>(args.get_int(args.flag_of({"-c", "--ctx"}), 4096, 1, 1 << 24));
  opt.n_batch = static_cast<uint32_t>(args.get_int("--batch", 512, 1, 65536));
  opt.n_parallel = static_cast<uint32_t>(args.get_int(args.flag_of({"-np", "--parallel"}), 1, 1, 256));  // a KV cache each
  opt.spill = args.has("--spill");
  if (args.has("--mem-budget")) {
    opt.mem_budget = parse_bytes(args.get("--mem-budget"));
    if (!opt.mem_budget) throw std::invalid_argument("--mem-budget: '" + args.get("--mem-budget") + "' is no memory; leave it out for no cap");
  }
  auto file = GgufFile::open(path);
  auto cfg = load_model_config(file);
  auto stats = model_stats(file, cfg);

  // Metadata, sizes and plan arithmetic need no device: without a Vulkan driver the device part
  // is marked unavailable and the rest still prints.
  std::vector<DeviceCaps> devices;
  std::string no_device;
  try {
    Instance instance(InstanceOptions{});
    devices = query_devices(instance);
  } catch (const VulkanUnavailable& e) {
    if (args.has("--load") || args.has("--device")) throw;
    no_device = e.what();
    devices.push_back(hypothetical_device(opt.mem_budget));
    if (!opt.mem_budget) {  // exactly the memory the model needs, so "available" reads sensibly
      const uint64_t need = plan_memory(file, cfg, devices[0], opt).device_total();
      devices[0].heaps[0].size = devices[0].heaps[0].budget = need;
    }
  }
  std::vector<size_t> chosen;
  if (args.has("--device")) chosen.push_back(choose_device(devices, args.get("--device")));
  else
    for (size_t i = 0; i < devices.size(); ++i)
      if (devices[i].usable) chosen.push_back(i);

  if (args.has("--json")) {
    nlohmann::ordered_json j;
    j["file"] = path;
    j["architecture"] = cfg.arch_key;
    j["name"] = cfg.name;
    j["hyperparameters"] = {{"n_vocab", cfg.n_vocab}, {"n_embd", cfg.n_embd}, {"n_layer", cfg.n_layer},
                            {"n_head", cfg.n_head}, {"n_head_kv", cfg.n_head_kv}, {"head_dim_k", cfg.head_dim_k},
                            {"head_dim_v", cfg.head_dim_v}, {"n_expert", cfg.n_expert}, {"n_expert_used", cfg.n_expert_used},
                            {"n_ff_exp", cfg.n_ff_exp}, {"n_expert_shared", cfg.n_expert_shared}, {"n_ff_shexp", cfg.n_ff_shexp},
                            {"gating", gating_name(cfg.router.gating)}, {"rope_freq_base", cfg.rope_freq_base}, {"n_rot", cfg.n_rot}};
    j["particulars"] = {{"routing", cfg.routing_kind()}, {"renormalized", cfg.router.renormalize},
                        {"routed_scale", cfg.router.scale}, {"shared_experts", cfg.n_expert_shared},
                        {"shared_gate", cfg.shared_gate}, {"dense_layers", cfg.n_layer_dense_lead},
                        {"partial_rope", !cfg.kv_lora_rank && cfg.n_rot < cfg.head_dim_k},
                        {"rope", cfg.rope_layout == RopeLayout::neox ? "neox" : "normal"},
                        {"qkv_bias", cfg.qkv_bias}, {"qk_norm", cfg.qk_norm_per_head ? "per head" : cfg.qk_norm_full ? "full" : "none"},
                        {"mla", cfg.kv_lora_rank > 0}, {"nextn_layers", cfg.n_layer_nextn},
                        {"sliding_window", cfg.n_swa}, {"expert_bias", cfg.expert_bias}, {"swiglu_oai", cfg.swiglu_oai}};
    j["particulars"]["norm"] = cfg.layer_norm ? "layernorm" : "rms";  // the block norms
    j["particulars"]["norm_bias"] = cfg.norm_bias;
    j["particulars"]["output_bias"] = cfg.output_bias;
    j["particulars"]["clamp_kqv"] = cfg.clamp_kqv;
    uint32_t chunked = 0, no_rope = 0;  // llama4's chunked-attention and NoPE layers
    for (const LayerSpec& l : cfg.layers) chunked += l.chunked, no_rope += !l.rope;
    j["particulars"]["chunked_layers"] = chunked;
    j["particulars"]["no_rope_layers"] = no_rope;
    j["particulars"]["moe_layer_step"] = cfg.n_moe_layer_step;
    j["particulars"]["expert_weight_on_input"] = cfg.moe_weight_input;
    j["particulars"]["attn_softcap"] = cfg.attn_softcap;
    j["particulars"]["final_softcap"] = cfg.final_softcap;
    j["particulars"]["post_norms"] = cfg.attn_post_norm || !cfg.ffn_post_norm.empty();
    j["particulars"]["expert_activation"] = cfg.gelu_experts ? "gelu" : cfg.swiglu_oai ? "swiglu_oai" : "silu";
    j["params"] = stats.params;
    j["bytes"] = stats.bytes;
    j["active_params_per_token"] = stats.active_params;
    j["active_bytes_per_token"] = stats.active_bytes;
    j["layer_expert_bytes"] = stats.layer_expert_bytes;
    auto tensors = nlohmann::ordered_json::array();
    for (const auto& t : file.tensors())
      tensors.push_back({{"name", t.name}, {"type", std::string(ggml_type_name(t.type))}, {"shape", t.shape}, {"bytes", t.bytes}});
    j["tensors"] = tensors;
    j["weight_types"] = type_groups_json(file);
    auto plans = nlohmann::ordered_json::array();
    for (size_t d : chosen) {
      auto plan = plan_memory(file, cfg, devices[d], opt);
      nlohmann::ordered_json pj{{"device", devices[d].name}, {"verdict", verdict_name(plan.verdict)}};
      for (const auto& c : plan.categories()) pj[c.name] = c.bytes;
      pj["needed"] = plan.device_total();
      pj["available"] = plan.available;
      pj["spilled"] = plan.spilled;
      pj["spilled_layers"] = plan.spilled_layers;
      if (!plan.error.empty()) pj["error"] = plan.error;
      plans.push_back(pj);
    }
    j["memory_plans"] = plans;
    if (args.has("--load")) j["memory"] = memory_rows_json(load_and_measure(path, args.get("--device"), opt));
    if (!no_device.empty()) j["devices_unavailable"] = no_device;
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }

  std::printf("%s: GGUF v%u, %s\n", path.c_str(), file.version(), format_bytes(file.file_size()).c_str());
  if (!cfg.name.empty()) std::printf("name: %s\n", cfg.name.c_str());
  std::printf("%s", cfg.describe().c_str());
  std::printf("parameters: %s total, %s active per token (%s of them in routed experts)\n", count_string(stats.params).c_str(),
              count_string(stats.active_params).c_str(), count_string(stats.expert_params).c_str());
  std::printf("bytes: %s total, %s of routed experts; active bytes per token: %s (this bounds decode speed)\n",
              format_bytes(stats.bytes).c_str(), format_bytes(stats.expert_bytes).c_str(), format_bytes(stats.active_bytes).c_str());
  std::printf("routed expert bytes per layer:");
  for (size_t l = 0; l < stats.layer_expert_bytes.size(); ++l)
    std::printf("%s %zu: %s", l ? "," : "", l, format_bytes(stats.layer_expert_bytes[l]).c_str());
  std::printf("\n\n%s\n", format_type_groups(file).c_str());
  const bool all = args.has("--tensors") || file.tensors().size() <= 40;
  std::printf("%-36s %-6s %-22s %12s\n", "tensor", "type", "shape", "bytes");
  size_t shown = 0;
  for (const auto& t : file.tensors()) {
    if (!all && t.name.rfind("blk.", 0) == 0 && t.name.rfind("blk.0.", 0) != 0) continue;
    std::printf("%-36s %-6s %-22s %12s\n", t.name.c_str(), std::string(ggml_type_name(t.type)).c_str(),
                shape_string(t.shape).c_str(), format_bytes(t.bytes).c_str());
    ++shown;
  }
  if (shown < file.tensors().size())
    std::printf("(%zu more tensors in layers 1..%u; --tensors lists all)\n", file.tensors().size() - shown, cfg.n_layer - 1);
  std::printf("\ncontext %u, batch %u%s\n", opt.n_ctx, opt.n_batch, opt.mem_budget ? (", budget " + format_bytes(opt.mem_budget)).c_str() : "");
  if (!no_device.empty()) std::printf("devices: unavailable: %s\n", no_device.c_str());
  for (size_t d : chosen) std::printf("%s", plan_memory(file, cfg, devices[d], opt).summary(devices[d].name).c_str());
  if (args.has("--load")) {
    print_placement(args.get("--device"), file, cfg, opt);
    print_memory_rows(load_and_measure(path, args.get("--device"), opt));
  }
  return 0;
}

}  // namespace vkmoe
