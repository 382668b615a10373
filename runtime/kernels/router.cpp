#include "runtime/kernels/router.h"

#include <stdexcept>

#include "runtime/vk/context.h"
#include "runtime/vk/sequence.h"
#include "shaders/router_params.h"

namespace vkmoe {

const char* gating_name(Gating g) {
  switch (g) {
    case Gating::softmax_topk: return "softmax_topk";
    case Gating::topk_softmax: return "topk_softmax";
    case Gating::sigmoid_group: return "sigmoid_group";
    case Gating::top1: return "top1";
    case Gating::threshold: return "threshold";
  }
  return "?";
}

static bool router_type_ok(GgmlType t) {
  return t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16 || t == GgmlType::Q8_0;
}

void validate_router(const RouterConfig& cfg, GgmlType type, uint32_t hidden) {
  auto fail = [](const std::string& m) { throw std::invalid_argument("router: " + m); };
  if (cfg.experts == 0 || cfg.experts > ROUTER_MAX_EXPERTS)
    fail(std::to_string(cfg.experts) + " experts; supported 1.." + std::to_string(ROUTER_MAX_EXPERTS));
  const uint32_t k = cfg.gating == Gating::top1 ? 1 : cfg.k;
  if (k == 0 || k > ROUTER_MAX_K || k > cfg.experts)
    fail("k = " + std::to_string(k) + " with " + std::to_string(cfg.experts) + " experts; supported 1..min(E, " +
         std::to_string(ROUTER_MAX_K) + ")");
  if (!router_type_ok(type))
    fail(std::string("weights of type ") + std::string(ggml_type_name(type)) +
         "; the router needs F32, F16, BF16 or Q8_0 (it is precision-sensitive: never below 8 bits)");
  if (type == GgmlType::Q8_0 && hidden % 32)
    fail("Q8_0 weights need a hidden size that is a multiple of 32, got " + std::to_string(hidden));
  if (cfg.n_group == 0 || cfg.n_group > ROUTER_MAX_GROUPS || cfg.experts % cfg.n_group)
    fail(std::to_string(cfg.n_group) + " groups do not divide " + std::to_string(cfg.experts) + " experts");
  if (cfg.n_group > 1 && (cfg.topk_group == 0 || cfg.topk_group > cfg.n_group))
    fail("topk_group " + std::to_string(cfg.topk_group) + " with " + std::to_string(cfg.n_group) + " groups");
}

void record_router(Context& ctx, Sequence& seq, const RouterConfig& cfg, const RouterWeights& w,
                   uint32_t tokens, uint32_t hidden, BufferRange x, const RouterOutputs& out,
                   const std::string& variant) {
  validate_router(cfg, w.type, hidden);
  const bool shared = w.shared_gate_w.size > 0 && out.shared_gate.size > 0;
  if (shared && !router_type_ok(w.shared_type))
    throw std::invalid_argument("router: shared-expert gate of unsupported type");
  const uint32_t k = cfg.gating == Gating::top1 ? 1 : cfg.k;
  const bool norm = w.norm.size > 0;
  if (norm) {
    if (w.norm.size < uint64_t(hidden) * 4 || out.x_norm.size < uint64_t(tokens) * hidden * 4)
      throw std::invalid_argument("router: the norm prologue needs a norm weight of " + std::to_string(hidden) +
                                  " floats and x_norm of " + std::to_string(uint64_t(tokens) * hidden) + " floats");
    if (out.x_norm.buffer == x.buffer && out.x_norm.offset < x.offset + x.size && x.offset < out.x_norm.offset + out.x_norm.size)
      throw std::invalid_argument("router: x_norm must not overlap x");
    if (!(w.norm_eps >= 0)) throw std::invalid_argument("router: norm eps must be >= 0");
    if (w.norm_bias.size && w.norm_bias.size < uint64_t(hidden) * 4)
      throw std::invalid_argument("router: the norm bias needs " + std::to_string(hidden) + " floats");
  }
  const bool post = w.post_norm.size > 0;
  if (post) {
    const uint64_t n = uint64_t(tokens) * hidden * 4;
    if (!norm || w.post_norm.size < uint64_t(hidden) * 4 || out.branch.size < n)
      throw std::invalid_argument("router: the post norm needs the FFN norm, a weight of " + std::to_string(hidden) +
                                  " floats and a branch of " + std::to_string(uint64_t(tokens) * hidden) + " floats");
    for (BufferRange o : {out.x_norm, x})
      if (out.branch.buffer == o.buffer && out.branch.offset < o.offset + o.size && o.offset < out.branch.offset + out.branch.size)
        throw std::invalid_argument("router: the post norm's branch must not overlap x or x_norm");
  }

  RouterParams p{};
  p.tokens = tokens;
  p.hidden = hidden;
  p.experts = cfg.experts;
  p.k = k;
  switch (cfg.gating) {
    case Gating::softmax_topk: case Gating::top1: p.gating = GATING_SOFTMAX_TOPK; break;
    case Gating::topk_softmax: p.gating = GATING_TOPK_SOFTMAX; break;
    case Gating::sigmoid_group: p.gating = GATING_SIGMOID; break;
    case Gating::threshold: p.gating = GATING_THRESHOLD; break;
  }
  p.flags = (cfg.renormalize && cfg.gating != Gating::top1 ? ROUTER_RENORM : 0) |
            (out.logits.size ? ROUTER_WRITE_LOGITS : 0) | (out.counts.size ? ROUTER_COUNT : 0) |
            (shared ? ROUTER_SHARED_GATE : 0) | (w.bias.size ? ROUTER_BIAS : 0) |
            (cfg.group_top2 ? ROUTER_GROUP_TOP2 : 0) | (norm ? ROUTER_NORM : 0) |
            (w.logit_bias.size ? ROUTER_LOGIT_BIAS : 0) | (norm && w.norm_center ? ROUTER_NORM_CENTER : 0) |
            (norm && w.norm_bias.size ? ROUTER_NORM_BIAS : 0) | (post ? ROUTER_POST : 0);
  if (w.logit_bias.size && w.logit_bias.size < uint64_t(cfg.experts) * 4)
    throw std::invalid_argument("router: the logit bias needs " + std::to_string(cfg.experts) + " floats");
  p.n_group = cfg.n_group;
  p.topk_group = cfg.topk_group;
  p.scale = cfg.scale;
  p.threshold = cfg.threshold;
  p.x_stride = hidden;
  p.eps = norm ? w.norm_eps : 0.0f;

  const auto& pipe = ctx.pipelines().get({.kernel = "router",
                                          .bindings = 15,
                                          .push_size = sizeof(RouterParams),
                                          .spec = {static_cast<uint32_t>(w.type), static_cast<uint32_t>(w.shared_type)},
                                          .variant = variant});
  const BufferRange dummy = ctx.dummy().range();
  auto opt = [&](BufferRange r, Access a) {
    if (r.size) return Binding{r, a};
    return a == Access::read ? Binding{dummy, Access::read} : Binding{ctx.sink().range(), Access::write};
  };
  Binding b[15] = {{x, post ? Access::read_write : Access::read},
                  {w.w, Access::read},
                  opt(w.bias, Access::read),
                  {out.ids, Access::write},
                  {out.weights, Access::write},
                  opt(out.logits, Access::write),
                  opt(out.counts, Access::read_write),
                  opt(shared ? w.shared_gate_w : BufferRange{}, Access::read),
                  opt(shared ? out.shared_gate : BufferRange{}, Access::write),
                  opt(norm ? w.norm : BufferRange{}, Access::read),
                  opt(norm ? out.x_norm : BufferRange{}, Access::read_write),
                  opt(w.logit_bias, Access::read),
                  opt(norm ? w.norm_bias : BufferRange{}, Access::read),
                  opt(post ? w.post_norm : BufferRange{}, Access::read),
                  opt(post ? out.branch : BufferRange{}, Access::read)};
  seq.dispatch(pipe, b, &p, tokens, 1, 1, "router");
}

}  // namespace vkmoe
