#include "runtime/model/model_stats.h"

#include <cstdlib>
#include <string>

#include "runtime/gguf/gguf_reader.h"
#include "runtime/model/model_config.h"

namespace vkmoe {

ModelStats model_stats(const GgufFile& f, const ModelConfig& c) {
  ModelStats s;
  s.layer_expert_bytes.assign(c.n_layer, 0);
  for (const auto& t : f.tensors()) {
    const uint64_t n = t.elements();
    s.params += n;
    s.bytes += t.bytes;
    if (c.skipped_tensor(t.name)) continue;  // a NextN block: in the file, never run
    const bool experts = shape_rank(t.shape) <= 3 && t.name.find("_exps.") != std::string::npos;
    if (experts) {
      s.expert_params += n;
      s.expert_bytes += t.bytes;
      const uint32_t layer = static_cast<uint32_t>(std::strtoul(t.name.c_str() + 4, nullptr, 10));
      if (layer < c.n_layer) s.layer_expert_bytes[layer] += t.bytes;
      // A token reads k of the E experts.
      s.active_params += n / c.n_expert * c.n_expert_used;
      s.active_bytes += t.bytes / c.n_expert * c.n_expert_used;
    } else if (t.name == "token_embd.weight" && f.find_tensor("output.weight")) {
      // The embedding table is only looked up: one row per token.
      s.active_params += t.shape[0];
      s.active_bytes += t.bytes / t.shape[1];
    } else {
      s.active_params += n;
      s.active_bytes += t.bytes;
    }
  }
  return s;
}

}  // namespace vkmoe
