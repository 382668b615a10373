#include "runtime/kernels/matmul.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <string_view>
#include <stdexcept>

#include "runtime/kernels/moe_experts.h"
#include "runtime/kernels/op_util.h"
#include "runtime/vk/context.h"
#include "runtime/vk/device.h"
#include "runtime/vk/pipeline.h"
#include "runtime/vk/sequence.h"
#include "shaders/ops_params.h"

namespace vkmoe {

static_assert(kMaxWeightPieces == MM_MAX_PIECES && kMaxWeightPieces == kMaxExpertPieces);
static_assert(uint32_t(Glu::silu) == MM_GLU_SILU && uint32_t(Glu::gelu) == MM_GLU_GELU);

DenseWeight make_dense_weight(const Device& device, const Buffer& buffer, uint64_t offset, GgmlType type,
                              uint32_t rows, uint32_t cols, uint64_t max_piece_bytes) {
  // The same splitting as expert tensors, with each row as a one-row "expert".
  ExpertTensor t;
  try {
    t = make_expert_tensor(device, buffer, offset, type, rows, 1, cols, max_piece_bytes);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("dense weight " + std::string(ggml_type_name(type)) + " [" + std::to_string(cols) +
                                ", " + std::to_string(rows) + "] (its rows made one-row experts): " + e.what());
  }
  DenseWeight w{type, rows, cols, t.row_bytes, t.experts_per_piece, {}};
  for (const auto& p : t.pieces) {
    BufferRange r = p.range;
    const uint64_t padded = (r.size + 15) / 16 * 16;
    if (r.offset + padded <= buffer.size() && padded <= device.caps().max_storage_buffer_range) r.size = padded;
    w.pieces.push_back({r, p.base, p.first_expert, p.experts});
  }
  return w;
}

std::string matmul_kernel_name(const char* stage, GgmlType type) {
  std::string s(ggml_type_name(type));
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return std::string(stage) + "_" + s;
}

namespace {

// lookup: the weight is only dequantized row by row (get_rows), which more types support.
void check_weight(const char* k, const DenseWeight& w, bool lookup = false) {
  if (!(lookup ? type_gpu_dequant(w.type) : type_supported(w.type)))
    op_fail(k, "weight type " + std::string(ggml_type_name(w.type)) + " is not supported by this kernel yet");
  if (w.rows == 0 || w.cols == 0 || w.pieces.empty() || w.pieces.size() > kMaxWeightPieces)
    op_fail(k, "weight without rows, or with 0 or more than 4 pieces");
  if (w.pieces.size() > 1 && w.rows_per_piece * (w.pieces.size() - 1) >= w.rows)
    op_fail(k, "weight pieces do not match rows_per_piece");
}

bool needs_subgroup(const ShaderVariant& v) {
  return std::string_view(v.needs).find("subgroup_arith") != std::string_view::npos;
}

MatmulParams weight_params(const DenseWeight& w) {
  MatmulParams p{};
  p.rows = w.rows;
  p.cols = w.cols;
  p.row_bytes = static_cast<uint32_t>(w.row_bytes);
  p.rows_per_piece = w.rows_per_piece;
  for (size_t i = 0; i < w.pieces.size(); ++i) p.base[i] = w.pieces[i].base;
  return p;
}

// Bindings 2..5: the weight's pieces; unused ones repeat piece 0 (bound, never read).
void add_pieces(std::vector<Binding>& b, const DenseWeight& w) {
  for (size_t i = 0; i < kMaxWeightPieces; ++i)
    b.push_back({w.pieces[i < w.pieces.size() ? i : 0].range, Access::read});
}

}  // namespace

VecShape vec_workgroup(const DeviceCaps& caps, bool subgroup, uint32_t tokens) {
  // Subgroup variant: kVecGroups subgroups of the device's size, each kVecRowsPerGroup rows.
  // Portable variant: each invocation owns kVecRowsPerGroup rows alone.
  const uint32_t sg_size = std::max<uint32_t>(1, caps.subgroup_size);
  VecShape s;
  s.wg = subgroup ? sg_size * kVecGroups : kVecPortableWg;
  s.rows_per_wg = (subgroup ? kVecGroups : kVecPortableWg) * kVecRowsPerGroup;
  s.max_t = tokens == 1 ? 1 : MM_VEC_MAX_T;
  return s;
}

VecShape vec_shape(Context& ctx, const std::string& kernel, const std::string& variant, uint32_t tokens) {
  return vec_workgroup(ctx.device().caps(), needs_subgroup(ctx.pipelines().choose(kernel, variant)), tokens);
}

uint32_t gemm_workgroup(const DeviceCaps& caps) {
  // Rows are spread over invocations, tokens over workgroups: 4 subgroups' worth keeps a GPU's
  // SM busy and a CPU's SIMD chunks few.
  const uint32_t sg = std::max<uint32_t>(1, caps.subgroup_size);
  return std::clamp<uint32_t>(4 * sg, 32, std::min<uint32_t>(256, caps.max_workgroup_invocations));
}

bool caps_subgroup_arith(const DeviceCaps& caps) {
  const VkSubgroupFeatureFlags need = VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_ARITHMETIC_BIT;
  return (caps.subgroup_ops & need) == need;
}

bool matmul_window_type(GgmlType type) {
  switch (type) {
    case GgmlType::F32: case GgmlType::F16: case GgmlType::BF16: case GgmlType::Q4_K: case GgmlType::Q5_K:
      return false;  // indexed uvec4 loads: rows must start 16-byte aligned
    default:
      return true;
  }
}

MatmulShape matmul_shape(const DenseWeight& w, uint32_t tokens, uint32_t x_stride, bool norm, MatmulPath path) {
  MatmulShape s{w.type, w.rows, w.cols, tokens, x_stride ? x_stride : w.cols, w.row_bytes,
                static_cast<uint32_t>(w.pieces.size())};
  s.rows_16_aligned = w.row_bytes % 16 == 0 &&
                      std::all_of(w.pieces.begin(), w.pieces.end(), [](const auto& pc) { return pc.base % 16 == 0; });
  s.ranges_padded = std::all_of(w.pieces.begin(), w.pieces.end(), [](const auto& pc) { return pc.range.size % 16 == 0; });
  s.norm = norm;
  s.path = path;
  return s;
}

MatmulChoice choose_matmul(const DeviceCaps& caps, const MatmulShape& s) {
  const auto fail = [&](const std::string& why) {
    throw std::invalid_argument("matmul " + std::string(ggml_type_name(s.type)) + " [" + std::to_string(s.cols) + ", " +
                                std::to_string(s.rows) + "] x " + std::to_string(s.tokens) + " tokens: " + why);
  };
  if (s.tokens == 0 || s.rows == 0 || s.cols == 0) fail("empty shape");
  if (s.pieces == 0 || s.pieces > kMaxWeightPieces) fail("1 to " + std::to_string(kMaxWeightPieces) + " weight pieces");
  MatmulChoice c;
  c.path = s.path != MatmulPath::automatic ? s.path : s.tokens <= MM_VEC_MAX_T ? MatmulPath::vec : MatmulPath::tiled;
  if (s.glu && (c.path != MatmulPath::vec || s.rows % 2)) fail("a fused activation needs the matrix-vector path and even rows");
  if (c.path == MatmulPath::vec && s.tokens > MM_VEC_MAX_T)
    fail("the matrix-vector path takes at most " + std::to_string(MM_VEC_MAX_T) + " tokens");
  // The subgroup variant where the device has subgroup arithmetic, except on a CPU device: there
  // (lavapipe) an invocation per row pair runs every type 1.4-1.8x faster than a subgroup per row
  // pair, since its x loads have one address across the SIMD lanes and its loop no per-lane exit
  // (docs/performance.md, "Dense matvec: direct dot products"). GPUs keep the coalesced subgroup rows.
  const bool cpu = caps.type == VK_PHYSICAL_DEVICE_TYPE_CPU;
  c.subgroup = c.path == MatmulPath::vec && s.subgroup.value_or(caps_subgroup_arith(caps) && !cpu);
  c.spec = vec_workgroup(caps, c.subgroup, s.tokens);
  c.spec.pieces = s.pieces;
  c.spec.x_vec4 = (s.x_stride ? s.x_stride : s.cols) % 4 == 0;
  c.spec.norm = s.norm;
  c.spec.norm_center = s.norm && s.norm_center;
  c.spec.norm_bias = s.norm && s.norm_bias;
  c.spec.glu = s.glu;
  // uvec4 weight loads: indexed ones need rows that start 16-byte aligned; load_words' window
  // (any even offset) needs only that the last uvec4 of a row is inside the bound range.
  c.spec.w_vec4 = matmul_window_type(s.type) ? s.ranges_padded || s.rows_16_aligned : s.rows_16_aligned;
  if (c.path == MatmulPath::vec) {
    c.row_groups = (uint64_t(s.rows) + c.spec.rows_per_wg - 1) / c.spec.rows_per_wg;
  } else {
    c.spec.wg = gemm_workgroup(caps);
    c.row_groups = (uint64_t(s.rows) + uint64_t(c.spec.wg) * MM_GEMM_ROWS - 1) / (uint64_t(c.spec.wg) * MM_GEMM_ROWS);
    c.token_groups = ceil_div(s.tokens, MM_GEMM_TOKENS);
  }
  return c;
}

namespace {

bool overlap(BufferRange a, BufferRange b) {
  return a.buffer == b.buffer && a.offset < b.offset + b.size && b.offset < a.offset + a.size;
}

// The checks of one matmul's operands (out_rows: the rows y gets); returns the strides.
std::array<uint32_t, 2> check_operands(const char* k, const DenseWeight& w, uint32_t tokens, BufferRange x,
                                       BufferRange y, uint32_t x_stride, uint32_t y_stride, uint32_t out_rows,
                                       const std::optional<NormPrologue>& norm) {
  check_weight(k, w);
  if (tokens == 0) op_fail(k, "no tokens");
  const uint32_t xs = x_stride ? x_stride : w.cols, ys = y_stride ? y_stride : out_rows;
  if (xs < w.cols || ys < out_rows) op_fail(k, "row stride shorter than the row");
  need_floats(k, "x", x, row_extent(tokens, xs, w.cols));
  need_floats(k, "y", y, row_extent(tokens, ys, out_rows));
  if (norm) {
    need_floats(k, "norm weight", norm->weight, w.cols);
    if (overlap(x, y)) op_fail(k, "with a norm prologue y must not overlap x (every workgroup reads all of x)");
    if (!(norm->eps >= 0)) op_fail(k, "norm eps must be >= 0");
    if (norm->bias.size) need_floats(k, "norm bias", norm->bias, w.cols);
  }
  return {xs, ys};
}

// The shader variant with the chosen shape: forced (tests), else the first supported one whose
// subgroup use is choose_matmul's.
const ShaderVariant& pick_variant(Context& ctx, const char* k, const std::string& kernel, const std::string& forced,
                                  bool vec, bool subgroup) {
  const ShaderVariant* variant = &ctx.pipelines().choose(kernel, forced);
  if (vec && forced.empty())
    for (const ShaderVariant* v : ctx.pipelines().supported_variants(kernel))
      if (needs_subgroup(*v) == subgroup) {
        variant = v;
        break;
      }
  if (vec && needs_subgroup(*variant) != subgroup) op_fail(k, "no " + kernel + " variant with the chosen shape");
  return *variant;
}

// The subgroup use the caller rules: a forced variant's, or none without subgroup arithmetic.
std::optional<bool> ruled_subgroup(Context& ctx, const std::string& kernel, const std::string& forced) {
  if (!forced.empty()) return needs_subgroup(ctx.pipelines().choose(kernel, forced));
  if (!ctx.device().features().subgroup_arith) return false;
  return std::nullopt;
}

}  // namespace

void record_matmul(Context& ctx, Sequence& seq, const DenseWeight& w, uint32_t tokens, BufferRange x,
                   BufferRange y, const MatmulOptions& o) {
  const char* k = "matmul";
  const bool glu = o.glu != Glu::none;
  const auto [xs, ys] = check_operands(k, w, tokens, x, y, o.x_stride, o.y_stride, glu ? w.rows / 2 : w.rows, o.norm);
  if (glu && (w.rows % 2 || tokens > MM_VEC_MAX_T || o.path == MatmulPath::tiled))
    op_fail(k, "a fused activation needs an even number of rows and the matrix-vector path");
  if (glu && overlap(x, y)) op_fail(k, "with a fused activation y must not overlap x");
  if (o.scale_sum && !o.accumulate) op_fail(k, "scale_sum scales the accumulated sum: it needs accumulate");
  if (!std::isfinite(o.scale) || o.scale == 0.0f) op_fail(k, "scale must be finite and non-zero");
  if (o.bias.size) need_floats(k, "bias", o.bias, w.rows);
  if (!(o.softcap >= 0) || std::isinf(o.softcap)) op_fail(k, "softcap must be finite and >= 0");
  if (glu && (o.bias.size || o.softcap > 0)) op_fail(k, "a fused activation takes no output bias or softcap");
  if (o.path == MatmulPath::vec && tokens > MM_VEC_MAX_T)
    op_fail(k, "the matrix-vector path takes at most " + std::to_string(MM_VEC_MAX_T) + " tokens");
  MatmulShape shape = matmul_shape(w, tokens, xs, o.norm.has_value(), o.path);
  shape.glu = static_cast<uint32_t>(o.glu);
  shape.norm_center = o.norm && o.norm->center;
  shape.norm_bias = o.norm && o.norm->bias.size;
  const bool vec = (o.path == MatmulPath::automatic ? tokens <= MM_VEC_MAX_T : o.path == MatmulPath::vec);
  const std::string kernel = matmul_kernel_name(vec ? "matvec" : "matmul", w.type);
  shape.subgroup = ruled_subgroup(ctx, kernel, o.variant);
  const MatmulChoice c = choose_matmul(ctx.device().caps(), shape);
  const ShaderVariant& variant = pick_variant(ctx, k, kernel, o.variant, vec, c.subgroup);

  MatmulParams p = weight_params(w);
  p.tokens = tokens;
  p.x_stride = xs;
  p.y_stride = ys;
  p.flags = (o.accumulate ? MM_ACCUMULATE : 0) | (o.norm ? MM_NORM : 0) | (o.scale_sum ? MM_SCALE_SUM : 0) |
            (o.bias.size ? MM_BIAS : 0) | (o.softcap > 0 ? MM_SOFTCAP : 0);
  p.eps = o.norm ? o.norm->eps : 0.0f;
  p.scale = o.scale;
  p.softcap = o.softcap;
  // The matvec has binding 9 too (a pair's second y), unused here.
  const uint32_t bindings = 5 + kMaxWeightPieces + (vec ? 1 : 0);
  const auto& pipe = ctx.pipelines().get(
      {.kernel = kernel, .bindings = bindings, .push_size = sizeof(p), .spec = c.spec.dense_spec(), .variant = variant.name});
  std::vector<Binding> b = {{x, Access::read}, {y, o.accumulate ? Access::read_write : Access::write}};
  add_pieces(b, w);
  const BufferRange dummy = ctx.dummy().range();
  b.push_back({o.norm ? o.norm->weight : dummy, Access::read});
  b.push_back({o.norm && o.norm->bias.size ? o.norm->bias : dummy, Access::read});
  b.push_back({o.bias.size ? o.bias : dummy, Access::read});
  if (c.path == MatmulPath::vec) {
    // Binding 9 (a pair's second y) is writable in the shader: y itself, never written through
    // it, keeps the dummy buffer read-only for the sync validation.
    b.push_back({y, o.accumulate ? Access::read_write : Access::write});
    const auto g = grid_2d(ctx, c.row_groups);
    seq.dispatch(pipe, b, &p, g[0], g[1], 1, "matvec");
  } else {
    seq.dispatch(pipe, b, &p, static_cast<uint32_t>(c.row_groups), c.token_groups, 1, "matmul");
  }
}

namespace {

// Why a and b cannot share a dispatch ("" when they can): the pair's shader has one weight type,
// one piece each, one x binding (b's x at a float offset past a's, as its norm weight).
std::string pair_obstacle(const DeviceCaps& caps, uint32_t tokens, const MatvecProblem& a, const MatvecProblem& b) {
  if (tokens > MM_VEC_MAX_T) return "more tokens than the matrix-vector path takes";
  if (a.w->type != b.w->type) return "weight types differ";
  if (a.w->pieces.size() != 1 || b.w->pieces.size() != 1) return "a weight in several pieces";
  const auto after = [&](BufferRange first, BufferRange second) {
    return first.buffer == second.buffer && second.offset >= first.offset && (second.offset - first.offset) % 4 == 0 &&
           second.offset + second.size - first.offset <= caps.max_storage_buffer_range;
  };
  if (!after(a.x, b.x)) return "b's x is not after a's in one binding";
  if (a.norm.has_value() != b.norm.has_value() || (a.norm && a.norm->eps != b.norm->eps)) return "norms differ";
  if ((a.norm && (a.norm->center || a.norm->bias.size)) || (b.norm && (b.norm->center || b.norm->bias.size)))
    return "a LayerNorm or a norm with a bias";
  if (a.norm && !after(a.norm->weight, b.norm->weight)) return "b's norm weight is not after a's in one binding";
  return "";
}

}  // namespace

bool record_matvec_pair(Context& ctx, Sequence& seq, uint32_t tokens, const MatvecProblem& a, const MatvecProblem& b,
                        const std::string& variant) {
  const char* k = "matvec pair";
  if (!a.w || !b.w) op_fail(k, "a problem without a weight");
  const auto [xa, ya] = check_operands(k, *a.w, tokens, a.x, a.y, a.x_stride, a.y_stride, a.w->rows, a.norm);
  const auto [xb, yb] = check_operands(k, *b.w, tokens, b.x, b.y, b.x_stride, b.y_stride, b.w->rows, b.norm);
  if (overlap(a.y, b.y) || overlap(a.y, b.x) || overlap(b.y, a.x)) op_fail(k, "a y overlaps the other problem's x or y");
  if (!pair_obstacle(ctx.device().caps(), tokens, a, b).empty()) return false;
  const uint32_t x_off = static_cast<uint32_t>((b.x.offset - a.x.offset) / 4);
  const uint32_t n_off = a.norm ? static_cast<uint32_t>((b.norm->weight.offset - a.norm->weight.offset) / 4) : 0;
  const std::string kernel = matmul_kernel_name("matvec", a.w->type);
  MatmulShape sa = matmul_shape(*a.w, tokens, xa, a.norm.has_value(), MatmulPath::vec);
  MatmulShape sb = matmul_shape(*b.w, tokens, xb, b.norm.has_value(), MatmulPath::vec);
  sa.subgroup = sb.subgroup = ruled_subgroup(ctx, kernel, variant);
  MatmulChoice c = choose_matmul(ctx.device().caps(), sa);
  const MatmulChoice cb = choose_matmul(ctx.device().caps(), sb);
  // One pipeline for both: vec4 loads only where both problems (and b's offsets) allow them.
  c.spec.x_vec4 = c.spec.x_vec4 && cb.spec.x_vec4 && x_off % 4 == 0 && n_off % 4 == 0;
  c.spec.w_vec4 = c.spec.w_vec4 && cb.spec.w_vec4;
  c.spec.pieces = 2;
  c.spec.pair = true;
  const ShaderVariant& v = pick_variant(ctx, k, kernel, variant, true, c.subgroup);

  MatmulParams p = weight_params(*a.w);
  p.tokens = tokens;
  p.x_stride = xa;
  p.y_stride = ya;
  p.base[1] = b.w->pieces[0].base;
  p.flags = a.norm ? MM_NORM : 0;
  p.eps = a.norm ? a.norm->eps : 0.0f;
  p.pair_groups = static_cast<uint32_t>(c.row_groups);
  p.pair_rows = b.w->rows;
  p.pair_cols = b.w->cols;
  p.pair_row_bytes = static_cast<uint32_t>(b.w->row_bytes);
  p.pair_x_stride = xb;
  p.pair_y_stride = yb;
  p.pair_x_offset = x_off;
  p.pair_norm_offset = n_off;
  const auto& pipe = ctx.pipelines().get({.kernel = kernel, .bindings = 6 + kMaxWeightPieces, .push_size = sizeof(p),
                                          .spec = c.spec.dense_spec(), .variant = v.name});
  const BufferRange x{a.x.buffer, a.x.offset, b.x.offset + b.x.size - a.x.offset};
  std::vector<Binding> bind = {{x, Access::read}, {a.y, Access::write}, {a.w->pieces[0].range, Access::read},
                               {b.w->pieces[0].range, Access::read}, {a.w->pieces[0].range, Access::read},
                               {a.w->pieces[0].range, Access::read}};
  if (a.norm) {
    const BufferRange na = a.norm->weight, nb = b.norm->weight;
    bind.push_back({{na.buffer, na.offset, nb.offset + nb.size - na.offset}, Access::read});
  } else {
    bind.push_back({ctx.dummy().range(), Access::read});
  }
  bind.push_back({ctx.dummy().range(), Access::read});  // no norm bias
  bind.push_back({ctx.dummy().range(), Access::read});  // no output bias
  bind.push_back({b.y, Access::write});
  const auto g = grid_2d(ctx, c.row_groups + cb.row_groups);
  seq.dispatch(pipe, bind, &p, g[0], g[1], 1, "matvec_pair");
  return true;
}

void record_get_rows(Context& ctx, Sequence& seq, const DenseWeight& table, uint32_t tokens, BufferRange ids,
                     BufferRange y, uint32_t y_stride, float scale) {
  const char* k = "get_rows";
  check_weight(k, table, true);
  if (tokens == 0) op_fail(k, "no tokens");
  const uint32_t ys = y_stride ? y_stride : table.cols;
  if (ys < table.cols) op_fail(k, "row stride shorter than the row");
  need_floats(k, "ids", ids, tokens);
  need_floats(k, "y", y, row_extent(tokens, ys, table.cols));
  MatmulParams p = weight_params(table);
  p.tokens = tokens;
  p.y_stride = ys;
  p.scale = scale;
  const auto& pipe = ctx.pipelines().get(
      {.kernel = matmul_kernel_name("get_rows", table.type), .bindings = 2 + kMaxWeightPieces, .push_size = sizeof(p)});
  std::vector<Binding> b = {{ids, Access::read}, {y, Access::write}};
  add_pieces(b, table);
  const auto g = grid_2d(ctx, tokens);
  seq.dispatch(pipe, b, &p, g[0], g[1], 1, "get_rows");
}

}  // namespace vkmoe
