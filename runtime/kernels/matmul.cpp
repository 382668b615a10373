#include "runtime/kernels/matmul.h"

#include <algorithm>
#include <cctype>
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
  for (const auto& p : t.pieces) w.pieces.push_back({p.range, p.base, p.first_expert, p.experts});
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

VecShape vec_shape(Context& ctx, const std::string& kernel, const std::string& variant, uint32_t tokens) {
  const ShaderVariant& v = ctx.pipelines().choose(kernel, variant);
  const bool sg = std::string_view(v.needs).find("subgroup_arith") != std::string_view::npos;
  // Subgroup variant: kVecGroups subgroups of the device's size, each kVecRowsPerGroup rows.
  // Portable variant: each invocation owns kVecRowsPerGroup rows alone.
  const uint32_t sg_size = std::max<uint32_t>(1, ctx.device().caps().subgroup_size);
  VecShape s;
  s.wg = sg ? sg_size * kVecGroups : kVecPortableWg;
  s.rows_per_wg = (sg ? kVecGroups : kVecPortableWg) * kVecRowsPerGroup;
  s.max_t = tokens == 1 ? 1 : MM_VEC_MAX_T;
  return s;
}

uint32_t gemm_workgroup(const DeviceCaps& caps) {
  // Rows are spread over invocations, tokens over workgroups: 4 subgroups' worth keeps a GPU's
  // SM busy and a CPU's SIMD chunks few.
  const uint32_t sg = std::max<uint32_t>(1, caps.subgroup_size);
  return std::clamp<uint32_t>(4 * sg, 32, std::min<uint32_t>(256, caps.max_workgroup_invocations));
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
  }
  MatmulPath path = o.path;
  if (path == MatmulPath::automatic) path = tokens <= MM_VEC_MAX_T ? MatmulPath::vec : MatmulPath::tiled;
  if (path == MatmulPath::vec && tokens > MM_VEC_MAX_T)
    op_fail(k, "the matrix-vector path takes at most " + std::to_string(MM_VEC_MAX_T) + " tokens");

  MatmulParams p = weight_params(w);
  p.tokens = tokens;
  p.x_stride = xs;
  p.y_stride = ys;
  p.flags = (o.accumulate ? MM_ACCUMULATE : 0) | (o.norm ? MM_NORM : 0);
  p.eps = o.norm ? o.norm->eps : 0.0f;
  const bool vec = path == MatmulPath::vec;
  const std::string kernel = matmul_kernel_name(vec ? "matvec" : "matmul", w.type);
  VecShape shape = vec_shape(ctx, kernel, o.variant, tokens);
  if (!vec) shape.wg = gemm_workgroup(ctx.device().caps());
  shape.pieces = static_cast<uint32_t>(w.pieces.size());
  shape.x_vec4 = xs % 4 == 0;
  shape.norm = o.norm.has_value();
  shape.w_vec4 = w.row_bytes % 16 == 0 &&
                 std::all_of(w.pieces.begin(), w.pieces.end(), [](const auto& pc) { return pc.base % 16 == 0; });
  const auto& pipe = ctx.pipelines().get({.kernel = kernel,
                                          .bindings = 3 + kMaxWeightPieces,
                                          .push_size = sizeof(p),
                                          .spec = shape.spec(),
                                          .variant = o.variant});
  std::vector<Binding> b = {{x, Access::read}, {y, o.accumulate ? Access::read_write : Access::write}};
  add_pieces(b, w);
  b.push_back({o.norm ? o.norm->weight : ctx.dummy().range(), Access::read});
  if (vec) {
    const auto g = grid_2d(ctx, ceil_div(w.rows, shape.rows_per_wg));
    seq.dispatch(pipe, b, &p, g[0], g[1], 1, "matvec");
  } else {
    seq.dispatch(pipe, b, &p, ceil_div(w.rows, shape.wg * MM_GEMM_ROWS), ceil_div(tokens, MM_GEMM_TOKENS), 1, "matmul");
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
