#include "runtime/kernels/moe_experts.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include "runtime/kernels/matmul.h"
#include "runtime/vk/context.h"
#include "runtime/vk/sequence.h"
#include "shaders/moe_params.h"

namespace vkmoe {

static_assert(kMoeEmptySlot == MOE_EMPTY_SLOT && kMaxExpertPieces == MOE_MAX_PIECES &&
              kMoeMaxGroupSlots == MOE_MAX_GROUP_SLOTS);

namespace {

constexpr uint32_t kTile = MOE_TILE_SLOTS;
constexpr uint32_t kCombineGroup = MOE_COMBINE_WG;
// Crossovers in slots per expert (tokens x k / experts). Lavapipe: 8, measured as 64 tokens on the
// reference model (32 experts, k = 4) after the register-tiled GEMMs (128 tokens = 16 per expert on
// OLMoE's shape before them; docs/performance.md). GPUs: 2, not measured yet.
constexpr double kLavapipeSlotsPerExpert = 8, kGpuSlotsPerExpert = 2;
// Decode gate/up slots per workgroup pass at T > 1 (docs/performance.md, "MoE decode pair: slots
// grouped by expert"): 1 (one slot per workgroup) on every device for now. On lavapipe the
// grouped form ran gate/up 3-6x slower at 2-8 tokens: llvmpipe runs a branch's body for every
// lane under a mask, so each group pass costs all GROUP_SLOTS slots' x loads and dot products
// whether the slots exist or not. GPUs: not measured; each grouped slot adds a 64-float x unit
// to the registers. VKMOE_MOE_GROUP_SLOTS forces groups for experiments.
constexpr uint32_t kCpuGroupSlots = 1, kGpuGroupSlots = 1;
static_assert(kCpuGroupSlots <= kMoeMaxGroupSlots && kGpuGroupSlots <= kMoeMaxGroupSlots);

uint64_t round_up(uint64_t v, uint64_t m) { return (v + m - 1) / m * m; }
uint32_t ceil_div(uint64_t a, uint64_t b) { return static_cast<uint32_t>((a + b - 1) / b); }

// "q4_K" -> "q4_k": kernel names are lower case.
std::string type_tag(GgmlType t) {
  std::string s(ggml_type_name(t));
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string tensor_desc(const ExpertTensor& t) {
  return std::string(ggml_type_name(t.type)) + " [" + std::to_string(t.cols) + ", " + std::to_string(t.rows) +
         ", " + std::to_string(t.experts) + "]";
}

// Tiles of one chunk: every expert's run of slots is padded to whole tiles.
uint32_t max_tiles(uint32_t slots, uint32_t experts) { return ceil_div(slots, kTile) + std::min(experts, slots); }

// A whole shape check for one expert FFN; returns a message or "".
std::string check_ffn(const MoeFfnWeights& w) {
  const auto &g = w.gate, &u = w.up, &d = w.down;
  if (g.pieces.empty() || u.pieces.empty() || d.pieces.empty()) return "a weight tensor is empty";
  for (const ExpertTensor* t : {&g, &u, &d})
    if (!type_supported(t->type)) return "the expert kernels do not support type " + tensor_desc(*t) + " yet";
  // The fused gate/up kernel addresses both with one split; two types run apart (record_decode).
  if (g.rows != u.rows || g.cols != u.cols || g.experts != u.experts ||
      (g.type == u.type && (g.experts_per_piece != u.experts_per_piece || g.pieces.size() != u.pieces.size())))
    return "gate " + tensor_desc(g) + " and up " + tensor_desc(u) + " differ in shape or split";
  if (d.rows != g.cols || d.cols != g.rows || d.experts != g.experts)
    return "down " + tensor_desc(d) + " does not fit gate " + tensor_desc(g) + " (down is [F, H, E])";
  if ((w.gate_up_bias.size > 0) != (w.down_bias.size > 0)) return "the gate/up and down biases come together";
  if (w.gate_up_bias.size && (w.gate_up_bias.size < 8ull * g.experts * g.rows || w.down_bias.size < 4ull * d.experts * d.rows))
    return "biases of " + std::to_string(w.gate_up_bias.size) + " and " + std::to_string(w.down_bias.size) +
           " bytes are short of [2, " + std::to_string(g.experts) + ", " + std::to_string(g.rows) + "] and [" +
           std::to_string(d.experts) + ", " + std::to_string(d.rows) + "] floats";
  return "";
}

struct Run {
  const MoeFfnWeights& w;
  uint32_t tokens, k;
  BufferRange x, ids, weights, out;
  uint32_t flags;
  const SharedExpertSlot* shared = nullptr;  // folded into the decode pair when set
};

// Why a shared expert cannot ride in the routed decode pair, or "".
std::string check_shared_slot(const MoeFfnWeights& r, const SharedExpertSlot& s) {
  if (!s.weights) return "no weights";
  const MoeFfnWeights& w = *s.weights;
  if (auto err = check_ffn(w); !err.empty()) return err;
  if (w.gate.experts != 1) return "the shared expert " + tensor_desc(w.gate) + " has more than one expert";
  if (w.gate.type != r.gate.type || w.up.type != r.up.type || w.down.type != r.down.type)
    return "the shared expert's types (" + tensor_desc(w.gate) + ", " + tensor_desc(w.up) + ", " + tensor_desc(w.down) +
           ") differ from the routed experts' (" + tensor_desc(r.gate) + ", " + tensor_desc(r.up) + ", " +
           tensor_desc(r.down) + ")";
  if (w.gate.cols != r.gate.cols) return "the shared expert's hidden size differs from the routed experts'";
  if (w.gate.pieces.size() != 1 || w.down.pieces.size() != 1) return "the shared expert spans several bindings";
  return "";
}

class MoeRecorder {
 public:
  MoeRecorder(Context& ctx, Sequence& seq, MoeScratch& scratch) : ctx_(ctx), seq_(seq), scratch_(scratch) {}

  void record(const Run& r, MoePath path) {
    if (auto err = check_ffn(r.w); !err.empty()) throw std::invalid_argument("moe experts: " + err);
    const uint32_t H = r.w.gate.cols;
    check_size(r.x, uint64_t(r.tokens) * H * 4, "x");
    check_size(r.out, uint64_t(r.tokens) * H * 4, "out");
    if (!(r.flags & MOE_FIXED_EXPERT)) check_size(r.ids, uint64_t(r.tokens) * r.k * 4, "ids");
    if (!(r.flags & MOE_UNIT_WEIGHT)) check_size(r.weights, uint64_t(r.tokens) * r.k * 4, "weights");
    if (r.shared) {
      if (auto err = check_shared_slot(r.w, *r.shared); !err.empty())
        throw std::invalid_argument("moe experts: shared expert slot: " + err);
      if (r.shared->gate.size) check_size(r.shared->gate, uint64_t(r.tokens) * 4, "shared gate");
    }
    if (r.tokens == 0) return;
    const MoeChoice c = choose_moe(moe_device_caps(ctx_.device()),
                                   {.tokens = r.tokens, .k = r.k, .experts = r.w.gate.experts,
                                    .mixed_gate_up = r.w.gate.type != r.w.up.type, .weight_input = r.w.weight_input,
                                    .batched_scratch = bool(scratch_.y), .path = path},
                                   scratch_.settings);
    path = c.path;
    const bool batched = path == MoePath::batched;
    const uint32_t chunk = chunk_tokens(r, batched);
    for (uint32_t t0 = 0; t0 < r.tokens; t0 += chunk) {
      MoeParams p = params(r, std::min(chunk, r.tokens - t0), t0);
      if (batched)
        record_batched(r, p);
      else
        record_decode(r, p, c);
    }
    if (r.shared && batched) {  // the batched path has no shared slot: its own dispatches, added
      const bool gated = r.shared->gate.size > 0;
      const uint32_t flags = MOE_FIXED_EXPERT | MOE_ACCUMULATE | (gated ? 0u : MOE_UNIT_WEIGHT);
      record({*r.shared->weights, r.tokens, 1, r.x, r.x, gated ? r.shared->gate : r.x, r.out, flags}, path);
    }
  }

 private:
  static void check_size(const BufferRange& b, uint64_t bytes, const char* what) {
    if (b.size < bytes)
      throw std::invalid_argument(std::string("moe experts: ") + what + " covers " + std::to_string(b.size) +
                                  " bytes, needs " + std::to_string(bytes));
  }

  // Tokens per chunk: what the scratch buffers and the workgroup-count limit allow.
  uint32_t chunk_tokens(const Run& r, bool batched) const {
    const auto& caps = ctx_.device().caps();
    const uint32_t H = r.w.gate.cols, F = r.w.gate.rows, E = r.w.gate.experts;
    // h per token: k routed slots of F, plus the shared slot's F when it rides along (decode).
    const uint64_t shared_f = r.shared && !batched ? r.shared->weights->gate.rows : 0;
    const uint64_t per_token = uint64_t(r.k) * F + shared_f;
    uint64_t slots = std::min<uint64_t>(scratch_.h.size() / 4 / per_token * r.k,
                                        uint64_t(caps.max_workgroup_count[1]) / (r.k + (shared_f ? 1 : 0)) * r.k);
    if (batched) {
      if (!scratch_.y) throw std::invalid_argument("moe experts: the scratch was made without the batched path");
      slots = std::min<uint64_t>(slots, scratch_.y.size() / 4 / H);
      if (!(r.flags & MOE_FIXED_EXPERT)) {
        // route words E + tiles * (tile + 1) with tiles <= slots / tile + 1 + E
        const uint64_t tiles = std::min<uint64_t>(scratch_.route.size() / 4 / (kTile + 1), caps.max_workgroup_count[1]);
        const uint64_t spare = tiles > uint64_t(2 * E) + 1 ? tiles - 2 * E - 1 : 0;
        slots = std::min<uint64_t>(slots, spare * kTile);
      }
    }
    const uint64_t chunk = std::min<uint64_t>(r.tokens, slots / r.k);
    if (chunk == 0)
      throw std::invalid_argument("moe experts: the scratch is too small for one token of " + tensor_desc(r.w.gate) +
                                  " with k = " + std::to_string(r.k));
    return static_cast<uint32_t>(chunk);
  }

  MoeParams params(const Run& r, uint32_t tokens, uint32_t t0) const {
    MoeParams p{};
    p.tokens = tokens;
    p.token_base = t0;
    p.k = r.k;
    p.experts = r.w.gate.experts;
    p.flags = r.flags;
    if (r.w.gate_up_bias.size) p.flags |= MOE_BIAS;
    if (r.w.weight_input) p.flags |= MOE_WEIGHT_INPUT;
    if (r.w.gelu) p.flags |= MOE_GELU;
    if (r.w.swiglu_oai) {
      p.flags |= MOE_SWIGLU_OAI;
      p.act_alpha = r.w.alpha;
      p.act_limit = r.w.limit;
    }
    p.max_tiles = (r.flags & MOE_FIXED_EXPERT) ? ceil_div(uint64_t(tokens) * r.k, kTile)
                                               : max_tiles(tokens * r.k, p.experts);
    return p;
  }

  // Sets the weight fields of p for tensor a (gate or down) and b (up, may be null).
  static void set_weights(MoeParams& p, const ExpertTensor& a, const ExpertTensor* b) {
    p.rows = a.rows;
    p.cols = a.cols;
    p.row_bytes = static_cast<uint32_t>(a.row_bytes);
    p.experts_per_piece = a.experts_per_piece;
    for (uint32_t i = 0; i < MOE_MAX_PIECES; ++i) {
      p.base_a[i] = i < a.pieces.size() ? a.pieces[i].base : 0;
      p.base_b[i] = b && i < b->pieces.size() ? b->pieces[i].base : 0;
    }
  }

  // `count` bindings for t's pieces; unused ones repeat piece 0 (bound, never read).
  static void add_pieces(std::vector<Binding>& b, const ExpertTensor& t, size_t count) {
    for (size_t i = 0; i < count; ++i) b.push_back({t.pieces[i < t.pieces.size() ? i : 0].range, Access::read});
  }

  // variant: "" = the best the device runs, else forced by name.
  const Pipeline& pipeline(const std::string& kernel, uint32_t bindings, std::vector<uint32_t> spec = {},
                           std::string variant = {}) {
    return ctx_.pipelines().get({.kernel = kernel,
                                 .bindings = bindings,
                                 .push_size = sizeof(MoeParams),
                                 .spec = std::move(spec),
                                 .variant = std::move(variant)});
  }

  // Every row of these tensors starts at a multiple of 16 bytes (the shader may load uvec4s).
  static bool rows_16_aligned(std::initializer_list<const ExpertTensor*> ts) {
    for (const ExpertTensor* t : ts)
      if (t && (t->row_bytes % 16 || std::any_of(t->pieces.begin(), t->pieces.end(),
                                                 [](const ExpertPiece& p) { return p.base % 16; })))
        return false;
    return true;
  }
  // Specialization constant 6 (W_VEC4) for the decode pair. Types whose unit reads go through
  // dequant_unit.glsl's load_words window (Q8_0, Q4_0, Q6_K: any even byte offset) need only
  // bindings of whole 16-byte groups (make_expert_tensor pads them where the buffer allows); the
  // others (Q4_K/Q5_K headers, float rows) index uvec4s directly and need 16-byte-aligned rows.
  static bool vec4_loads(std::initializer_list<const ExpertTensor*> ts) {
    for (const ExpertTensor* t : ts) {
      if (!t) continue;
      const bool window = t->type == GgmlType::Q8_0 || t->type == GgmlType::Q4_0 || t->type == GgmlType::Q6_K;
      const bool whole_groups = std::all_of(t->pieces.begin(), t->pieces.end(),
                                            [](const ExpertPiece& p) { return p.range.size % 16 == 0; });
      if (window ? !whole_groups : !rows_16_aligned({t})) return false;
    }
    return true;
  }

  // A decode-pair kernel in choose_moe's variant and lane-group shape (specialization constants
  // 0-6 of lanes.glsl / vec_shape, then 7 PROJ and 8 the slots per group for gate/up).
  const Pipeline& vec_pipeline(const std::string& kernel, uint32_t bindings, const MoeChoice& c,
                               const ExpertTensor& t, bool w_vec4, std::vector<uint32_t> extra = {}) {
    VecShape shape;
    shape.wg = c.workgroup;
    shape.rows_per_wg = c.rows_per_wg;
    shape.max_t = 1;
    shape.pieces = static_cast<uint32_t>(t.pieces.size());
    shape.w_vec4 = w_vec4;
    std::vector<uint32_t> spec = shape.spec();
    spec.insert(spec.end(), extra.begin(), extra.end());
    return pipeline(kernel, bindings, std::move(spec), c.subgroup ? kernel + "_sg" : kernel);
  }

  // ids and weights bindings; a shared expert binds x in place of what it does not read.
  Binding ids_binding(const Run& r) const { return {(r.flags & MOE_FIXED_EXPERT) ? r.x : r.ids, Access::read}; }
  Binding weights_binding(const Run& r) const {
    return {(r.flags & MOE_UNIT_WEIGHT) ? r.x : r.weights, Access::read};
  }
  Binding bias_binding(const BufferRange& bias) const {
    return {bias.size ? bias : ctx_.dummy().range(), Access::read};
  }
  Binding out_binding(const Run& r) const {
    return {r.out, (r.flags & MOE_ACCUMULATE) ? Access::read_write : Access::write};
  }

  // The gate/up dispatch writing h: fused (proj 0, a = gate, b = up, one type), or one pass of
  // tensor a alone (proj 1: gate, proj 2: up, see moe_matvec.comp.glsl's PROJ). sa / sb: the
  // shared expert's tensors riding along, or null.
  void record_gate_up(const Run& r, MoeParams& p, const MoeChoice& c, BufferRange h, const ExpertTensor& a,
                      const ExpertTensor& b, const ExpertTensor* sa, const ExpertTensor* sb, uint32_t proj) {
    const uint32_t slots = p.tokens * r.k, shared_f = sa ? sa->rows : 0;
    const Binding unused = {ctx_.dummy().range(), Access::read};
    const bool split = a.pieces.size() > 1;
    const size_t pieces = split ? MOE_MAX_PIECES : 1;
    std::vector<Binding> bind = {{r.x, Access::read}, ids_binding(r), {h, proj == 2 ? Access::read_write : Access::write}};
    add_pieces(bind, a, pieces);
    add_pieces(bind, b, pieces);
    bind.push_back(sa ? Binding{sa->pieces[0].range, Access::read} : unused);
    bind.push_back(sb ? Binding{sb->pieces[0].range, Access::read} : unused);
    bind.push_back(bias_binding(r.w.gate_up_bias));
    bind.push_back(weights_binding(r));  // read with MOE_WEIGHT_INPUT only
    set_weights(p, a, &b);
    if (sa) set_shared(p, *sa, sb);
    const bool w_vec4 = vec4_loads({&a, &b, sa, sb});
    const auto& pipe = vec_pipeline(moe_kernel_name("gate_up", a.type, split), uint32_t(bind.size()), c, a, w_vec4,
                                    {proj, p.tokens > 1 ? c.group_slots : 1u});
    seq_.dispatch(pipe, bind, &p, ceil_div(std::max(a.rows, shared_f), c.rows_per_wg), slots + (sa ? p.tokens : 0), 1,
                  proj == 0 ? "moe_gate_up" : proj == 1 ? "moe_gate" : "moe_up");
  }

  void record_decode(const Run& r, MoeParams p, const MoeChoice& c) {
    const auto &g = r.w.gate, &u = r.w.up, &d = r.w.down;
    const MoeFfnWeights* sh = r.shared ? r.shared->weights : nullptr;
    const uint32_t slots = p.tokens * r.k, shared_f = sh ? sh->gate.rows : 0;
    const BufferRange h = scratch_.h.range(0, (uint64_t(slots) * g.rows + uint64_t(p.tokens) * shared_f) * 4);
    if (sh) {
      p.flags |= MOE_SHARED_SLOT | (r.shared->gate.size ? MOE_SHARED_GATED : 0u);
      p.shared_f = shared_f;
    }
    const Binding unused = {ctx_.dummy().range(), Access::read};
    const uint32_t stages = scratch_.settings.decode_stages;
    if (!(stages & 1)) {
    } else if (c.gate_up_passes == 1) {
      record_gate_up(r, p, c, h, g, u, sh ? &sh->gate : nullptr, sh ? &sh->up : nullptr, 0);
    } else {  // no fused kernel for two types: gate, then up with the activation
      record_gate_up(r, p, c, h, g, g, sh ? &sh->gate : nullptr, nullptr, 1);
      record_gate_up(r, p, c, h, u, u, sh ? &sh->up : nullptr, nullptr, 2);
    }
    if (stages & 2) {
      const bool split = d.pieces.size() > 1;
      std::vector<Binding> b = {{h, Access::read}, ids_binding(r), weights_binding(r), out_binding(r)};
      add_pieces(b, d, split ? MOE_MAX_PIECES : 1);
      b.push_back(sh ? Binding{sh->down.pieces[0].range, Access::read} : unused);
      b.push_back(sh && r.shared->gate.size ? Binding{r.shared->gate, Access::read} : unused);
      b.push_back(bias_binding(r.w.down_bias));
      set_weights(p, d, nullptr);
      if (sh) set_shared(p, sh->down, nullptr);
      const bool w_vec4 = vec4_loads({&d, sh ? &sh->down : nullptr});
      const auto& pipe = vec_pipeline(moe_kernel_name("down", d.type, split), uint32_t(b.size()), c, d, w_vec4);
      seq_.dispatch(pipe, b, &p, ceil_div(d.rows, c.rows_per_wg), p.tokens, 1, "moe_down");
    }
  }

  static void set_shared(MoeParams& p, const ExpertTensor& a, const ExpertTensor* b) {
    p.shared_row_bytes = static_cast<uint32_t>(a.row_bytes);
    p.shared_base_a = a.pieces[0].base;
    p.shared_base_b = b ? b->pieces[0].base : 0;
  }

  // One batched GEMM on tensor t (and up): workgroups of gemm_workgroup() invocations, each
  // MOE_GEMM_ROWS rows (fused gate/up: half of each) for MOE_GEMM_SLOTS of a tile's slots.
  // proj: moe_gemm.comp.glsl's PROJ (1, 2: one pass of gate or up alone, all rows of t).
  void dispatch_gemm(const std::string& kernel, const std::vector<Binding>& b, const MoeParams& p,
                     const ExpertTensor& t, const ExpertTensor* up, const char* label, uint32_t proj = 0) {
    const uint32_t wg = gemm_workgroup(ctx_.device().caps());
    const uint32_t row_blocks = ceil_div(p.rows, wg * (MOE_GEMM_ROWS / (up && proj == 0 ? 2 : 1)));
    // Specialization constants 0 (workgroup), 1 (input rows 4-aligned), 3 (pieces), 6 (uvec4
    // rows), 7 (PROJ, gate/up only).
    std::vector<uint32_t> spec = {wg, p.cols % 4 == 0 ? 1u : 0u, 0, uint32_t(t.pieces.size()), 0, 0,
                                  rows_16_aligned({&t, up}) ? 1u : 0u};
    if (proj) spec.push_back(proj);
    const auto& pipe = pipeline(kernel, static_cast<uint32_t>(b.size()), spec);
    seq_.dispatch(pipe, b, &p, row_blocks * (kTile / MOE_GEMM_SLOTS), p.max_tiles, 1, label);
  }

  void record_batched(const Run& r, MoeParams p) {
    const auto &g = r.w.gate, &u = r.w.up, &d = r.w.down;
    const uint32_t slots = p.tokens * r.k;
    const BufferRange h = scratch_.h.range(0, uint64_t(slots) * g.rows * 4);
    const BufferRange y = scratch_.y.range(0, uint64_t(slots) * d.rows * 4);
    // A shared expert needs no route: its tiles are the slots in order. Bind x instead.
    BufferRange route = r.x;
    if (!(r.flags & MOE_FIXED_EXPERT)) {
      route = scratch_.route.range(0, (uint64_t(p.experts) + uint64_t(p.max_tiles) * (kTile + 1)) * 4);
      const auto& pipe = pipeline("moe_route", 2);
      seq_.dispatch(pipe, {{r.ids, Access::read}, {route, Access::write}}, &p, 1, 1, 1, "moe_route");
    }
    // Gate and up fused (one type), or of two types one pass each (PROJ 1, then 2 reading h).
    auto gate_up = [&](const ExpertTensor& a, const ExpertTensor& b, uint32_t proj, const char* label) {
      std::vector<Binding> bind = {{r.x, Access::read}, {route, Access::read}, {h, proj == 2 ? Access::read_write : Access::write}};
      add_pieces(bind, a, MOE_MAX_PIECES);
      add_pieces(bind, b, MOE_MAX_PIECES);
      bind.push_back(bias_binding(r.w.gate_up_bias));
      set_weights(p, a, &b);
      dispatch_gemm("moe_gemm_gate_up_" + type_tag(a.type), bind, p, a, &b, label, proj);
    };
    if (g.type == u.type) {
      gate_up(g, u, 0, "moe_gemm_gate_up");
    } else {
      gate_up(g, g, 1, "moe_gemm_gate");
      gate_up(u, u, 2, "moe_gemm_up");
    }
    {
      std::vector<Binding> b = {{h, Access::read}, {route, Access::read}, {y, Access::write}};
      add_pieces(b, d, MOE_MAX_PIECES);
      set_weights(p, d, nullptr);
      dispatch_gemm("moe_gemm_down_" + type_tag(d.type), b, p, d, nullptr, "moe_gemm_down");
    }
    {
      const auto& caps = ctx_.device().caps();
      const uint32_t groups = ceil_div(uint64_t(p.tokens) * d.rows, kCombineGroup);
      const uint32_t gx = std::min(groups, caps.max_workgroup_count[0]);
      const auto& pipe = pipeline("moe_combine", 5);
      seq_.dispatch(pipe, {{y, Access::read}, ids_binding(r), weights_binding(r), out_binding(r), bias_binding(r.w.down_bias)},
                    &p, gx, ceil_div(groups, gx), 1, "moe_combine");
    }
  }

  Context& ctx_;
  Sequence& seq_;
  MoeScratch& scratch_;
};

}  // namespace

std::string moe_kernel_name(const char* stage, GgmlType type, bool split) {
  return std::string("moe_") + stage + "_" + type_tag(type) + (split ? "_split" : "");
}

ExpertTensor make_expert_tensor(const Device& device, const Buffer& buffer, uint64_t offset, GgmlType type,
                                uint32_t experts, uint32_t rows, uint32_t cols, uint64_t max_piece_bytes) {
  ExpertTensor t{type, experts, rows, cols};
  const std::string what = "expert tensor " + tensor_desc(t) + " in buffer '" + buffer.name() + "'";
  if (!type_gpu_dequant(type))
    throw std::invalid_argument(what + ": the GPU kernels do not support type " + std::string(ggml_type_name(type)));
  if (experts == 0 || rows == 0 || cols == 0) throw std::invalid_argument(what + ": empty shape");
  if (offset % 4) throw std::invalid_argument(what + ": offset " + std::to_string(offset) + " is not a multiple of 4");
  if (const uint32_t block = ggml_type_info(uint32_t(type))->block_elems; cols % block)
    throw std::invalid_argument(what + ": rows of " + std::to_string(cols) + " elements are not whole blocks of " +
                                std::to_string(block));
  t.row_bytes = ggml_row_bytes(type, cols);
  const uint64_t expert_bytes = t.row_bytes * rows;
  const uint64_t end = round_up(offset + expert_bytes * experts, 4);
  if (end > buffer.size())
    throw std::invalid_argument(what + ": needs bytes up to " + std::to_string(end) + " (the tensor's end rounded to 4), the buffer has " +
                                std::to_string(buffer.size()));

  const auto& caps = device.caps();
  const uint64_t align = std::max<uint64_t>(caps.storage_buffer_alignment, 4);
  uint64_t limit = caps.max_storage_buffer_range / 4 * 4;
  if (max_piece_bytes) limit = std::min(limit, max_piece_bytes);
  // A piece starts up to align - 4 bytes before its first expert and ends at most 3 past its last.
  auto piece_bytes = [&](uint64_t n) { return align - 4 + round_up(n * expert_bytes, 4); };
  if (piece_bytes(experts) <= limit) {
    t.experts_per_piece = experts;
  } else {
    if (piece_bytes(1) > limit)
      throw std::invalid_argument(what + ": one expert takes " + format_bytes(expert_bytes) + " (" +
                                  std::to_string(expert_bytes) + " bytes), more than one storage binding may cover (" +
                                  std::to_string(limit) + " bytes, maxStorageBufferRange of " + caps.name + ")");
    t.experts_per_piece = static_cast<uint32_t>((limit - (align - 4) - 3) / expert_bytes);
  }
  const uint32_t pieces = ceil_div(experts, t.experts_per_piece);
  if (pieces > kMaxExpertPieces)
    throw std::invalid_argument(what + " (" + format_bytes(expert_bytes * experts) + ") needs " + std::to_string(pieces) +
                                " bindings of at most " + std::to_string(limit) + " bytes; the kernels bind at most " +
                                std::to_string(kMaxExpertPieces));
  for (uint32_t i = 0; i < pieces; ++i) {
    ExpertPiece p;
    p.first_expert = i * t.experts_per_piece;
    p.experts = std::min(t.experts_per_piece, experts - p.first_expert);
    const uint64_t start = offset + p.first_expert * expert_bytes;
    const uint64_t aligned = start / align * align;
    p.base = static_cast<uint32_t>(start - aligned);
    // Whole 16-byte groups where the buffer and the binding limit allow: the shaders' uvec4
    // window loads then stay inside the binding at any row alignment (Q6_K's 210-byte blocks).
    const uint64_t bytes = round_up(start + p.experts * expert_bytes, 4) - aligned, padded = round_up(bytes, 16);
    p.range = buffer.range(aligned, aligned + padded <= buffer.size() && padded <= limit ? padded : bytes);
    t.pieces.push_back(p);
  }
  return t;
}

MoeDeviceCaps moe_device_caps(const Device& device) {
  return {.cpu = device.caps().type == VK_PHYSICAL_DEVICE_TYPE_CPU,
          .subgroup_size = device.caps().subgroup_size,
          .subgroup_arith = device.features().subgroup_arith};
}

uint32_t moe_batched_from_tokens(const MoeDeviceCaps& caps, uint32_t experts, uint32_t k) {
  if (experts == 0 || k == 0) experts = 64, k = 8;
  const double per_expert = caps.cpu ? kLavapipeSlotsPerExpert : kGpuSlotsPerExpert;
  // tokens x k / experts >= per_expert
  return static_cast<uint32_t>(std::clamp(std::ceil(per_expert * experts / k), 1.0, double(UINT32_MAX)));
}

MoeChoice choose_moe(const MoeDeviceCaps& caps, const MoeCall& call, const MoeSettings& settings) {
  MoeChoice c;
  c.batched_from = settings.batched_from_tokens;
  c.path = call.path;
  if (c.path == MoePath::automatic)
    c.path = call.tokens >= settings.batched_from_tokens && call.batched_scratch ? MoePath::batched : MoePath::decode;
  if (call.weight_input) c.path = MoePath::decode;  // the grouped GEMM has no input weighting
  // The decode pair: a subgroup per lane group where subgroup arithmetic runs (matvec's shape,
  // vec_shape), else one invocation per lane group. On a CPU device the portable form is faster
  // (llvmpipe runs a subgroup's lanes as one SIMD row and pays for every subgroupAdd; the same
  // choice as choose_matmul, measured 1.4-1.8x on the dense matvec).
  c.subgroup = caps.subgroup_arith && settings.subgroup.value_or(!caps.cpu);
  c.workgroup = c.subgroup ? std::max(1u, caps.subgroup_size) * kVecGroups : kVecPortableWg;
  c.rows_per_wg = (c.subgroup ? kVecGroups : kVecPortableWg) * kVecRowsPerGroup;
  c.gate_up_passes = call.mixed_gate_up ? 2 : 1;
  // One token's k slots have k distinct experts: nothing to group at T = 1.
  const uint32_t group = call.tokens > 1 ? (caps.cpu ? kCpuGroupSlots : kGpuGroupSlots) : 1;
  c.group_slots = settings.group_slots ? std::min(settings.group_slots, kMoeMaxGroupSlots) : group;
  return c;
}

uint32_t default_batched_from_tokens(const Device& device, uint32_t experts, uint32_t k) {
  if (const char* e = std::getenv("VKMOE_MOE_BATCHED_FROM"); e && *e) {
    char* end = nullptr;
    const unsigned long v = std::strtoul(e, &end, 10);
    if (*end || v == 0 || v > UINT32_MAX)
      throw std::invalid_argument(std::string("VKMOE_MOE_BATCHED_FROM must be a token count of at least 1, got '") + e + "'");
    return static_cast<uint32_t>(v);
  }
  return moe_batched_from_tokens(moe_device_caps(device), experts, k);
}

MoeScratchBytes moe_scratch_bytes(const MoeScratchSize& s, uint64_t max_storage_range) {
  if (s.tokens == 0 || s.k == 0 || s.experts == 0 || s.hidden == 0 || s.ffn == 0)
    throw std::invalid_argument("moe scratch: every size must be at least 1");
  const uint64_t cap = max_storage_range / 4 * 4;
  const uint64_t slots = uint64_t(s.tokens) * s.k;
  MoeScratchBytes b;
  b.h = std::min(cap, slots * s.ffn * 4);
  if (s.batched) {
    b.y = std::min(cap, slots * s.hidden * 4);
    const uint64_t tiles = (slots + kTile - 1) / kTile + 2 * uint64_t(s.experts) + 1;  // see chunk_tokens
    b.route = std::min(cap, tiles * (kTile + 1) * 4);
  }
  return b;
}

MoeScratch create_moe_scratch(Context& ctx, const MoeScratchSize& s) {
  const MoeScratchBytes b = moe_scratch_bytes(s, ctx.device().caps().max_storage_buffer_range);
  MoeScratch m;
  m.settings.batched_from_tokens = default_batched_from_tokens(ctx.device(), s.experts, s.k);
  if (const char* g = std::getenv("VKMOE_MOE_GROUP_SLOTS"); g && *g) {  // tuning: force the slot groups
    char* end = nullptr;
    const unsigned long v = std::strtoul(g, &end, 10);
    if (*end || v == 0 || v > kMoeMaxGroupSlots)
      throw std::invalid_argument(std::string("VKMOE_MOE_GROUP_SLOTS must be 1 to ") + std::to_string(kMoeMaxGroupSlots) +
                                  ", got '" + g + "'");
    m.settings.group_slots = static_cast<uint32_t>(v);
  }
  m.h = ctx.allocator().create_buffer(b.h, MemoryUse::device, "moe h");
  if (s.batched) {
    m.y = ctx.allocator().create_buffer(b.y, MemoryUse::device, "moe y");
    m.route = ctx.allocator().create_buffer(b.route, MemoryUse::device, "moe route");
  }
  return m;
}

void record_moe_experts(Context& ctx, Sequence& seq, const MoeFfnWeights& w, const MoeExpertsArgs& a,
                        MoeScratch& scratch) {
  if (a.k == 0) throw std::invalid_argument("moe experts: k must be at least 1");
  MoeRecorder(ctx, seq, scratch)
      .record({w, a.tokens, a.k, a.x, a.ids, a.weights, a.out, a.accumulate ? MOE_ACCUMULATE : 0u, a.shared}, a.path);
}

void record_shared_expert(Context& ctx, Sequence& seq, const MoeFfnWeights& w, const SharedExpertArgs& a,
                          MoeScratch& scratch) {
  if (w.gate.experts != 1)
    throw std::invalid_argument("shared expert: " + tensor_desc(w.gate) + " has more than one expert");
  uint32_t flags = MOE_FIXED_EXPERT | (a.accumulate ? MOE_ACCUMULATE : 0u) | (a.scale ? 0u : MOE_UNIT_WEIGHT);
  MoeRecorder(ctx, seq, scratch).record({w, a.tokens, 1, a.x, a.x, a.scale.value_or(a.x), a.out, flags}, a.path);
}

}  // namespace vkmoe
