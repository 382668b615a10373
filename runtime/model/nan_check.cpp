// NaN hunting: a forward whose logits hold NaN or Inf fails, naming the first layer that made
// them. The batch is run again one depth at a time (the embedding, then 1, 2, ... layers) and the
// residual stream checked after each; the same tokens at the same positions rewrite the KV cache
// rows with the same values, so the rerun changes nothing. It costs n_layer extra passes, only
// when something is already wrong.
#include <cmath>
#include <stdexcept>

#include "runtime/model/engine.h"
#include "runtime/model/weights.h"
#include "runtime/vk/context.h"
#include "runtime/vk/sequence.h"

namespace vkmoe {

namespace {

bool all_finite(std::span<const float> v) {
  for (float x : v)
    if (!std::isfinite(x)) return false;
  return true;
}

}  // namespace

void Engine::check_finite(std::span<const float> logits, const Pass& pass) {
  if (all_finite(logits)) return;
  const uint32_t T = pass.tokens;
  std::string where = "the layers' outputs are finite: the output norm or head (output_norm.weight, output.weight) made them";
  std::vector<float> x(static_cast<size_t>(T) * cfg_.n_embd);
  for (uint32_t layers = 0; layers <= cfg_.n_layer; ++layers) {
    record_pass(*seq_, pass, layers);
    seq_->run();
    ctx_.transfer().download(act_.x, 0, x.data(), x.size() * 4);
    if (all_finite(x)) continue;
    where = layers == 0 ? "first in the token embedding (token_embd.weight)"
                        : "first produced by layer " + std::to_string(layers - 1) + " (tensors blk." +
                              std::to_string(layers - 1) + ".*)";
    break;
  }
  std::string at;  // each session's positions
  for (const PassPart& p : pass.parts)
    at += (at.empty() ? "" : ", ") + std::to_string(p.pos) + (p.tokens > 1 ? ".." + std::to_string(p.pos + p.tokens - 1) : "");
  throw std::runtime_error(w_.name() + ": the model computed NaN or Inf logits at position" +
                           (pass.parts.size() > 1 || T > 1 ? "s " : " ") + at + ", " + where);
}

}  // namespace vkmoe
