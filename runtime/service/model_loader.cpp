#include "runtime/service/model_loader.h"

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
std::set<std::string> chat_value_flags() { return {"--system", "-sys", "-n", "--chat-template"}; }

namespace {

constexpr int64_t kMaxCtx = 1 << 24;  // tokens; far beyond any model's context

// The file's tokenizer must cover exactly the rows of the model's embedding and output: a
// shorter one would meet token ids it has no text for in the middle of a reply.
void check_vocabulary(const std::string& path, const Tokenizer& tok, const ModelConfig& cfg) {
  const size_t tokens = tok.vocab().tokens.size();
  if (tokens != cfg.n_vocab)
    throw std::runtime_error(path + ": the vocabulary has " + std::to_string(tokens) +
                             " tokens but the embedding and output tensors have " + std::to_string(cfg.n_vocab) + " rows");
}

}  // namespace

static LoadedModel load_model_file(const ModelRequest& req, const std::string& path);

ModelRequest model_request_from_args(const Args& args, bool quiet) {
  ModelRequest r;
  const std::string m = args.flag_of({"-m", "--model"});
  if (args.has(m) && args.get(m).empty()) throw std::invalid_argument(m + ": empty path (leave -m out for the demo model)");
  r.path = args.get(m);
  r.device = args.get("--device");
  const std::string c = args.flag_of({"-c", "--ctx-size"});
  r.ctx_given = args.has(c);
  r.options.n_ctx = static_cast<uint32_t>(args.get_int(c, 4096, 0, kMaxCtx));
  const std::string b = args.flag_of({"--batch", "-b"});
  r.options.n_batch = static_cast<uint32_t>(args.get_int(b, 256, 1, 65536));
  if (args.has("--mem-budget")) {
    r.options.mem_budget = parse_bytes(args.get("--mem-budget"));
    if (r.options.mem_budget == 0)
      throw std::invalid_argument("--mem-budget: '" + args.get("--mem-budget") + "' is no memory; leave it out for no cap");
  }
  r.options.spill = args.has("--spill");
  r.quiet = quiet;
  r.options.progress = !quiet;
  return r;
}

LoadedModel load_model(const ModelRequest& req) {
  const std::string path = req.path.empty() ? demo_model_path(!req.quiet).string() : req.path;
  try {
    return load_model_file(req, path);
  } catch (const VulkanUnavailable&) {
    throw;
  } catch (const std::exception& e) {
    // Errors from deep in the loader (kernels checking a tensor's type or shape) name the file.
    const std::string what = e.what();
    if (what.find(path) != std::string::npos) throw;
    throw std::runtime_error(path + ": " + what);
  }
}

static LoadedModel load_model_file(const ModelRequest& req, const std::string& path) {
  LoadedModel lm;
  lm.path = path;
  auto file = GgufFile::open(lm.path);
  ModelOptions mo = req.options;
  // The cheap checks first: config, tokenizer, vocabulary, before the device and the upload.
  const ModelConfig cfg = load_model_config(file);
  // llama.cpp's test files may carry no vocabulary: enough for eval --tokens.
  const bool no_vocab = file.get_string("tokenizer.ggml.model").value_or("") == "no_vocab";
  if (req.need_tokenizer && no_vocab)
    throw std::runtime_error(lm.path + " has no vocabulary (tokenizer.ggml.model = \"no_vocab\"): text in and out needs "
                             "one; `vkmoe eval --tokens 1,2,3` and `vkmoe bench model` run it from token ids");
  if (!no_vocab) {
    lm.tokenizer = std::make_unique<Tokenizer>(Tokenizer::from_gguf(file));
    check_vocabulary(lm.path, *lm.tokenizer, cfg);
  }
  if (req.ctx_given && mo.n_ctx == 0) mo.n_ctx = cfg.n_ctx_train;  // -c 0: as trained, like llama.cpp
  if (req.ctx_given && mo.n_ctx > cfg.n_ctx_train)
    std::fprintf(stderr, "warning: -c %u exceeds the context %s was trained with (%u); expect worse text past it\n",
                 mo.n_ctx, lm.path.c_str(), cfg.n_ctx_train);
  lm.ctx = std::make_unique<Context>(ContextOptions{.device = req.device});
  lm.model = std::make_unique<Model>(*lm.ctx, std::move(file), mo);
  const auto& plan = lm.model->plan();
  if (!req.quiet) {
    std::fprintf(stderr, "model: %s (%s, %u layers, %u experts, %u per token) on %s\n", lm.path.c_str(),
                 arch_name(lm.model->config().arch), lm.model->config().n_layer, lm.model->config().n_expert,
                 lm.model->config().n_expert_used, lm.ctx->device().caps().name.c_str());
    if (plan.verdict == PlanVerdict::fits_with_spill)
      std::fprintf(stderr, "%s", plan.summary(lm.ctx->device().caps().name).c_str());
  }
  return lm;
}

LoadedModel load_model_from_args(const Args& args, bool quiet) { return load_model(model_request_from_args(args, quiet)); }

SamplerConfig sampler_from_args(const Args& args) {
  SamplerConfig s;
  s.temperature = static_cast<float>(args.get_float("--temp", s.temperature, 0, 100));
  s.top_k = static_cast<int32_t>(args.get_int("--top-k", s.top_k, 0, INT32_MAX));
  s.top_p = static_cast<float>(args.get_float("--top-p", s.top_p, 0, 1));
  s.min_p = static_cast<float>(args.get_float("--min-p", s.min_p, 0, 1));
  // Above 0: 1 is off; 0 or less would invert or break the penalty.
  s.repeat_penalty = static_cast<float>(args.get_float("--repeat-penalty", s.repeat_penalty, 1e-3, 100));
  s.presence_penalty = static_cast<float>(args.get_float("--presence-penalty", s.presence_penalty, -100, 100));
  s.frequency_penalty = static_cast<float>(args.get_float("--frequency-penalty", s.frequency_penalty, -100, 100));
  s.penalty_last_n = static_cast<int32_t>(args.get_int("--repeat-last-n", s.penalty_last_n, 0, INT32_MAX));
  s.seed = args.get_int(args.flag_of({"-s", "--seed"}), -1, -1, INT64_MAX);
  return s;
}

ChatFormat chat_format_for(const LoadedModel& lm, const std::string& name, bool required) {
  if (!name.empty()) return parse_chat_format(name);
  const ChatFormat f = detect_chat_format(lm.tokenizer->vocab().chat_template, lm.model->config().arch_key);
  if (f == ChatFormat::Unknown && required)
    throw std::invalid_argument(lm.path + ": its chat template is not one vkmoe knows; choose one with --chat-template " +
                                std::string(chat_format_names()));
  return f;
}

}  // namespace vkmoe
