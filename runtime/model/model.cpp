#include "runtime/model/model.h"

#include <algorithm>
#include <stdexcept>

#include "runtime/model/weights.h"
#include "runtime/vk/context.h"
#include "runtime/vk/instance.h"

namespace vkmoe {

Model::Model(Context& ctx, GgufFile file, ModelOptions options) : ctx_(ctx), opt_(std::move(options)), tally_(ctx) {
  ModelConfig cfg = load_model_config(file);
  if (opt_.adjust_config) opt_.adjust_config(cfg);
  opt_.n_ctx = std::max<uint32_t>(1, opt_.n_ctx);
  opt_.profile = (opt_.profile || env_flag("VKMOE_PROFILE")) && ctx.device().features().timestamps;
  opt_.n_batch = std::clamp<uint32_t>(opt_.n_batch, 1, opt_.n_ctx);
  opt_.n_parallel = std::max<uint32_t>(1, opt_.n_parallel);
  PlanOptions po{.n_ctx = opt_.n_ctx, .n_batch = opt_.n_batch, .n_parallel = opt_.n_parallel, .mem_budget = opt_.mem_budget,
                 .spill = opt_.spill};
  plan_ = plan_memory(file, cfg, ctx.device().caps(), po);
  weights_ = std::make_unique<Weights>(ctx, std::move(file), std::move(cfg), plan_, opt_.n_ctx, opt_.progress, tally_);
  engine_ = std::make_unique<Engine>(ctx, *weights_, plan_.layout,
                                     EngineOptions{.profile = opt_.profile, .expert_stats = opt_.expert_stats}, tally_);
  // The sessions' KV caches, all planned ones at load: a Session takes one (session.h).
  const ActivationLayout& lay = plan_.layout;
  kv_pool_.resize(lay.n_sessions);
  for (uint32_t s = 0; s < lay.n_sessions; ++s)
    for (uint32_t l = 0; l < lay.n_layer; ++l) {
      const std::string suffix = " " + std::to_string(l) + (s ? " session " + std::to_string(s) : "");
      kv_pool_[s].push_back(tally_.allocate(lay.ring(l) ? lay.k_ring : lay.k_cache, MemoryUse::device, suffix));
      kv_pool_[s].push_back(tally_.allocate(lay.ring(l) ? lay.v_ring : lay.v_cache, MemoryUse::device, suffix));
    }
  if (opt_.warm_up) {  // in a session of its own, given back at once
    Session warm(*this);
    const ModelConfig& c = config();
    const int32_t token = c.bos >= 0 && static_cast<uint32_t>(c.bos) < c.n_vocab ? c.bos : 0;
    forward(warm, std::span<const int32_t>(&token, 1));
    engine_->clear_profile();
  }
}

Model::~Model() = default;

const ModelConfig& Model::config() const { return weights_->config(); }
const GgufFile& Model::file() const { return weights_->file(); }
const LoadReport& Model::load_report() const { return weights_->tensors().report; }

uint64_t Model::allocated_bytes(MemoryCategory c) const {
  if (c == MemoryCategory::staging) return ctx_.transfer().staging_bytes();  // the Context's ring
  return tally_.bytes(c);
}

std::vector<Model::MemoryRow> Model::memory_rows() const {
  std::vector<MemoryRow> rows;
  MemoryRow total{"total"};
  for (int i = 0; i < kMemoryCategories; ++i) {
    const auto c = static_cast<MemoryCategory>(i);
    rows.push_back({category_name(c), plan_.planned(c), allocated_bytes(c)});
    total.planned += rows.back().planned;
    total.allocated += rows.back().allocated;
  }
  rows.push_back(total);
  return rows;
}

void Model::set_profile(bool on) { engine_->set_profile(on && ctx_.device().features().timestamps); }

}  // namespace vkmoe
