// Options shared by the commands that load a model (llama.cpp's names where they mean the same).
#pragma once
#include <memory>
#include <set>
#include <string>

#include "apps/vkmoe/args.h"
#include "runtime/model/model.h"
#include "runtime/sampling/sampler.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/vk/context.h"

namespace vkmoe {

// Flags every model command accepts, to merge with its own.
std::set<std::string> model_value_flags();
std::set<std::string> model_bool_flags();
std::set<std::string> sampler_value_flags();

struct LoadedModel {
  std::unique_ptr<Context> ctx;
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
  std::string path;
};

// -m (or the built-in demo model), --device, -c, --batch, --mem-budget, --spill.
LoadedModel load_model_from_args(const Args& args, bool quiet = false);
SamplerConfig sampler_from_args(const Args& args);

}  // namespace vkmoe
