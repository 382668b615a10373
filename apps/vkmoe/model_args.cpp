#include "apps/vkmoe/model_args.h"

#include <cstdio>

#include "runtime/model/demo_model.h"

namespace vkmoe {

std::set<std::string> model_value_flags() {
  return {"-m", "--model", "--device", "-c", "--ctx-size", "--batch", "-b", "--mem-budget"};
}
std::set<std::string> model_bool_flags() { return {"--spill", "--quiet"}; }
std::set<std::string> sampler_value_flags() {
  return {"-s", "--seed", "--temp", "--top-k", "--top-p", "--min-p", "--repeat-penalty", "--presence-penalty",
          "--frequency-penalty", "--repeat-last-n"};
}

LoadedModel load_model_from_args(const Args& args, bool quiet) {
  LoadedModel lm;
  lm.path = args.get("-m", args.get("--model"));
  if (lm.path.empty()) lm.path = demo_model_path(!quiet).string();
  lm.ctx = std::make_unique<Context>(ContextOptions{.device = args.get("--device")});
  ModelOptions mo;
  mo.n_ctx = static_cast<uint32_t>(args.get_int("-c", args.get_int("--ctx-size", 4096)));
  mo.n_batch = static_cast<uint32_t>(args.get_int("--batch", args.get_int("-b", 256)));
  if (args.has("--mem-budget")) mo.mem_budget = parse_bytes(args.get("--mem-budget"));
  mo.spill = args.has("--spill");
  mo.progress = !quiet;
  auto file = GgufFile::open(lm.path);
  lm.tokenizer = std::make_unique<Tokenizer>(Tokenizer::from_gguf(file));
  lm.model = std::make_unique<Model>(*lm.ctx, std::move(file), mo);
  const auto& plan = lm.model->plan();
  if (!quiet) {
    std::fprintf(stderr, "model: %s (%s, %u layers, %u experts, %u per token) on %s\n", lm.path.c_str(),
                 arch_name(lm.model->config().arch), lm.model->config().n_layer, lm.model->config().n_expert,
                 lm.model->config().n_expert_used, lm.ctx->device().caps().name.c_str());
    if (plan.verdict == PlanVerdict::fits_with_spill)
      std::fprintf(stderr, "%s", plan.summary(lm.ctx->device().caps().name).c_str());
  }
  return lm;
}

SamplerConfig sampler_from_args(const Args& args) {
  SamplerConfig s;
  s.temperature = static_cast<float>(args.get_float("--temp", s.temperature));
  s.top_k = static_cast<int32_t>(args.get_int("--top-k", s.top_k));
  s.top_p = static_cast<float>(args.get_float("--top-p", s.top_p));
  s.min_p = static_cast<float>(args.get_float("--min-p", s.min_p));
  s.repeat_penalty = static_cast<float>(args.get_float("--repeat-penalty", s.repeat_penalty));
  s.presence_penalty = static_cast<float>(args.get_float("--presence-penalty", s.presence_penalty));
  s.frequency_penalty = static_cast<float>(args.get_float("--frequency-penalty", s.frequency_penalty));
  s.penalty_last_n = static_cast<int32_t>(args.get_int("--repeat-last-n", s.penalty_last_n));
  s.seed = args.get_int("--seed", args.get_int("-s", -1));
  return s;
}

}  // namespace vkmoe
