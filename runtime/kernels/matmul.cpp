#include "runtime/kernels/matmul.h"

#include <algorithm>
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
  c.norm_center = s.norm && s.norm_center;
  c.norm_bias = s.norm && s.norm_bias;
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

void record_matmul(Context& ctx, Sequence& seq, const DenseWeight& w, uint32_t tokens, BufferRange x,
                   BufferRange y, const MatmulOptions& o) {
  const char* k = "matmul";
  check_weight(k, w);
  if (tokens == 0) op_fail(k, "no tokens");
  const uint32_t xs = o.x_stride ? o.x_stride : w.cols, ys = o.y_stride ? o.y_stride : w.rows;
  if (xs < w.cols || ys < w.rows) op_fail(k, "row stride shorter than the row");
  need_floats(k, "x", x, row_extent(tokens, xs, w.cols));
  need_floats(k, "y", y, row_extent(tokens, ys, w.rows));
  if (o.norm) {
    need_floats(k, "norm weight", o.norm->weight, w.cols);
    if (x.buffer == y.buffer && x.offset < y.offset + y.size && y.offset < x.offset + x.size)
      op_fail(k, "with a norm prologue y must not overlap x (every workgroup reads all of x)");
    if (!(o.norm->eps >= 0)) op_fail(k, "norm eps must be >= 0");
    if (o.norm->bias.size) need_floats(k, "norm bias", o.norm->bias, w.cols);
  }
  if (o.bias.size) need_floats(k, "bias", o.bias, w.rows);
  if (!(o.softcap >= 0) || std::isinf(o.softcap)) op_fail(k, "softcap must be finite and >= 0");
  if (o.path == MatmulPath::vec && tokens > MM_VEC_MAX_T)
    op_fail(k, "the matrix-vector path takes at most " + std::to_string(MM_VEC_MAX_T) + " tokens");
  MatmulShape shape = matmul_shape(w, tokens, xs, o.norm.has_value(), o.path);
  shape.norm_center = o.norm && o.norm->center;
  shape.norm_bias = o.norm && o.norm->bias.size;
  const bool vec = (o.path == MatmulPath::automatic ? tokens <= MM_VEC_MAX_T : o.path == MatmulPath::vec);
  const std::string kernel = matmul_kernel_name(vec ? "matvec" : "matmul", w.type);
  // The variant: forced (tests), else choose_matmul's among those the enabled features run.
  if (!o.variant.empty()) shape.subgroup = needs_subgroup(ctx.pipelines().choose(kernel, o.variant));
  else if (!ctx.device().features().subgroup_arith) shape.subgroup = false;
  const MatmulChoice c = choose_matmul(ctx.device().caps(), shape);
  const ShaderVariant* variant = &ctx.pipelines().choose(kernel, o.variant);
  if (vec && o.variant.empty())
    for (const ShaderVariant* v : ctx.pipelines().supported_variants(kernel))
      if (needs_subgroup(*v) == c.subgroup) {
        variant = v;
        break;
      }
  if (vec && needs_subgroup(*variant) != c.subgroup) op_fail(k, "no " + kernel + " variant with the chosen shape");

  MatmulParams p = weight_params(w);
  p.tokens = tokens;
  p.x_stride = xs;
  p.y_stride = ys;
  p.flags = (o.accumulate ? MM_ACCUMULATE : 0) | (o.norm ? MM_NORM : 0) | (o.bias.size ? MM_BIAS : 0) |
            (o.softcap > 0 ? MM_SOFTCAP : 0);
  p.eps = o.norm ? o.norm->eps : 0.0f;
  p.scale = o.softcap;
  std::vector<uint32_t> spec = c.spec.spec();
  spec.push_back(c.norm_center ? 1u : 0u);  // constant 7
  spec.push_back(c.norm_bias ? 1u : 0u);    // 8
  const auto& pipe = ctx.pipelines().get({.kernel = kernel,
                                          .bindings = 5 + kMaxWeightPieces,
                                          .push_size = sizeof(p),
                                          .spec = spec,
                                          .variant = variant->name});
  std::vector<Binding> b = {{x, Access::read}, {y, o.accumulate ? Access::read_write : Access::write}};
  add_pieces(b, w);
  const BufferRange dummy = ctx.dummy().range();
  b.push_back({o.norm ? o.norm->weight : dummy, Access::read});
  b.push_back({o.norm && o.norm->bias.size ? o.norm->bias : dummy, Access::read});
  b.push_back({o.bias.size ? o.bias : dummy, Access::read});
  if (c.path == MatmulPath::vec) {
    const auto g = grid_2d(ctx, c.row_groups);
    seq.dispatch(pipe, b, &p, g[0], g[1], 1, "matvec");
  } else {
    seq.dispatch(pipe, b, &p, static_cast<uint32_t>(c.row_groups), c.token_groups, 1, "matmul");
  }
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
