// Loading a model for a front end: the options every model command shares (llama.cpp's names
// where they mean the same), checked before any work starts (model_request_from_args,
// sampler_from_args); load_model then does the work. Used by the command line, the chat window
// (through ChatWorker) and the server; no terminal or window code here.
#pragma once
#include <memory>
#include <set>
#include <string>

#include "runtime/service/args.h"
#include "runtime/model/model.h"
#include "runtime/sampling/sampler.h"
#include "runtime/tokenizer/chat_template.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/vk/context.h"

namespace vkmoe {

// Flags every model command accepts, to merge with its own.
std::set<std::string> model_value_flags();
std::set<std::string> model_bool_flags();
std::set<std::string> sampler_value_flags();
// The chat front ends' own: --system/-sys, -n, --chat-template.
std::set<std::string> chat_value_flags();

struct ModelRequest {
  std::string path;  // empty: the built-in demo model
  std::string device;
  ModelOptions options;
  bool ctx_given = false;  // -c was given (0: the model's training context)
  bool quiet = false;
  bool need_tokenizer = true;  // false: a file with tokenizer.ggml.model "no_vocab" loads too
};

struct LoadedModel {
  std::unique_ptr<Context> ctx;
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;  // null only when need_tokenizer was false
  std::string path;
};

// -m (or the built-in demo model), --device, -c, --batch, --mem-budget, --spill, checked.
ModelRequest model_request_from_args(const Args& args, bool quiet = false);
LoadedModel load_model(const ModelRequest& request);
LoadedModel load_model_from_args(const Args& args, bool quiet = false);
SamplerConfig sampler_from_args(const Args& args);

// The chat format: the one named (--chat-template NAME), else the file's template's. A model
// whose template vkmoe does not know gives ChatFormat::Unknown, or with required an error that
// names the file and the choices.
ChatFormat chat_format_for(const LoadedModel& lm, const std::string& name, bool required);

}  // namespace vkmoe
