// Dense matmul y = W x and embedding lookup on weights kept in their GGUF block layout (F32,
// F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K), dequantized on the fly by shaders/dequant.glsl.
// A weight larger than one storage binding (a 151936 x 2048 Q6_K output head is ~250 MB, over
// lavapipe's 128 MiB maxStorageBufferRange) is split by whole rows over up to 4 bindings.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/quant/ggml_type.h"
#include "runtime/vk/memory.h"

namespace vkmoe {

class Context;
class Device;
class Sequence;

constexpr uint32_t kMaxWeightPieces = 4;

// W [rows, cols] (GGUF ne = [cols, rows]): row r is cols elements at byte r * row_bytes of the
// tensor. Every piece but the last holds exactly rows_per_piece rows.
struct DenseWeight {
  struct Piece {
    BufferRange range;        // offset aligned to minStorageBufferOffsetAlignment
    uint32_t base = 0;        // byte offset of first_row inside range
    uint32_t first_row = 0;
    uint32_t rows = 0;
  };
  GgmlType type = GgmlType::F32;
  uint32_t rows = 0, cols = 0;
  uint64_t row_bytes = 0;
  uint32_t rows_per_piece = 0;
  std::vector<Piece> pieces;  // 1..kMaxWeightPieces
};

// Describes the tensor at `offset` (a multiple of 4) of `buffer`, split into pieces no larger
// than maxStorageBufferRange (or max_piece_bytes when non-zero: tests force splitting with
// it). cols must be whole blocks of the type. Each piece's range is padded to a multiple of 16
// bytes where the buffer and maxStorageBufferRange allow (so a uvec4 load of a row's last block
// stays bound: matmul_window_type). Throws std::invalid_argument naming the sizes.
DenseWeight make_dense_weight(const Device& device, const Buffer& buffer, uint64_t offset, GgmlType type,
                              uint32_t rows, uint32_t cols, uint64_t max_piece_bytes = 0);

enum class MatmulPath {
  automatic,  // vec for at most 8 tokens, tiled above
  vec,        // matrix-vector: tokens <= 8
  tiled,      // register tiles of 4 rows x 8 tokens per invocation (prefill)
};

// Workgroup shape of the matrix-vector kernels (matmul.comp.glsl GEMM=0 and the MoE decode
// pair), from the device's subgroup size: specialization constants 0 (workgroup size), 1 (rows
// per workgroup), 2 (1 token, or MM_VEC_MAX_T for 2..8), 3 (weight pieces: 1 spares each load a
// branch), 4, 5 and 6 (the dense matmul also 7 to 10).
// kVecRowsPerGroup must match the shaders' RPS.
constexpr uint32_t kVecGroups = 4, kVecRowsPerGroup = 2, kVecPortableWg = 32;
struct VecShape {
  uint32_t wg = 0, rows_per_wg = 0, max_t = 1, pieces = kMaxWeightPieces;
  bool x_vec4 = false;  // specialization constant 4 (matvec): x rows 4-aligned, read as vec4
  bool norm = false;    // 5: the RMS-norm prologue (MM_NORM)
  bool w_vec4 = false;  // 6: every weight row starts at a multiple of 16 bytes (uvec4 loads)
  // The dense matmul's own (the MoE pair has other constants 7 and 8): dense_spec() only.
  bool norm_center = false;  // 7: with norm, LayerNorm (the mean subtracted)
  bool norm_bias = false;    // 8: with norm, a norm bias
  uint32_t glu = 0;          // 9 (matvec): MM_GLU_SILU / MM_GLU_GELU, the activation fused
  bool pair = false;         // 10 (matvec): two problems in one dispatch (record_matvec_pair)
  std::vector<uint32_t> spec() const {  // 0..6
    return {wg, rows_per_wg, max_t, pieces, x_vec4 ? 1u : 0u, norm ? 1u : 0u, w_vec4 ? 1u : 0u};
  }
  std::vector<uint32_t> dense_spec() const {  // 0..10
    std::vector<uint32_t> s = spec();
    s.insert(s.end(), {norm_center ? 1u : 0u, norm_bias ? 1u : 0u, glu, pair ? 1u : 0u});
    return s;
  }
};
struct DeviceCaps;
// The shape of the matrix-vector kernels for a subgroup variant or the portable one.
VecShape vec_workgroup(const DeviceCaps& caps, bool subgroup, uint32_t tokens);
VecShape vec_shape(Context& ctx, const std::string& kernel, const std::string& variant, uint32_t tokens);
// Workgroup size of the register-tiled GEMMs (matmul GEMM=1, moe_gemm) on this device.
uint32_t gemm_workgroup(const DeviceCaps& caps);
// Whether the device runs the subgroup variants (subgroup basic + arithmetic in compute).
bool caps_subgroup_arith(const DeviceCaps& caps);

// A norm folded into a matmul: x is replaced by x / sqrt(mean(x^2) + eps) * weight per token
// (as record_rms_norm with groups = 1), or with center the LayerNorm (x - mean) / sqrt(var + eps)
// * weight, then + bias when one is given; computed inside the matmul's own dispatch.
struct NormPrologue {
  BufferRange weight;  // [cols] floats
  float eps = 1e-6f;
  BufferRange bias;    // [cols] floats, or empty
  bool center = false;
};

// The gated activation a matvec can fuse: y[r] = act(W[r] x) * (W[r + rows/2] x) for a
// [gate | up] weight of 2 * n rows, n outputs (the matrix-vector path only).
enum class Glu : uint32_t { none = 0, silu = 1, gelu = 2 };

struct MatmulOptions {
  uint32_t x_stride = 0, y_stride = 0;  // 0 = cols / rows (rows / 2 with glu)
  bool accumulate = false;
  // The product times scale (y (+)= scale * W x), or with scale_sum (and accumulate) the sum:
  // y = (y + W x) * scale. Granite's residual scale, Grok-2's / sqrt(2).
  float scale = 1.0f;
  bool scale_sum = false;
  Glu glu = Glu::none;                  // the matrix-vector path only (tokens <= MM_VEC_MAX_T)
  MatmulPath path = MatmulPath::automatic;
  std::string variant;                  // force a shader variant (tests)
  std::optional<NormPrologue> norm;     // y must not overlap x when set
  BufferRange bias;                     // [rows] floats added to each output row (then accumulated), or empty
  float softcap = 0.0f;                 // > 0: y = softcap * tanh(y / softcap) after the bias
};

// What one dense matmul call is, as far as choose_matmul is concerned (matmul_shape builds it).
struct MatmulShape {
  GgmlType type = GgmlType::F32;
  uint32_t rows = 0, cols = 0, tokens = 1;
  uint32_t x_stride = 0;         // floats between rows of x (0 = cols)
  uint64_t row_bytes = 0;
  uint32_t pieces = 1;
  bool rows_16_aligned = false;  // row_bytes and every piece's first row are multiples of 16 bytes
  bool ranges_padded = false;    // every piece's bound range is a multiple of 16 bytes long
  bool norm = false;             // an RMS-norm prologue
  bool norm_center = false, norm_bias = false;  // with norm: LayerNorm, a norm bias (constants 7, 8)
  uint32_t glu = 0;              // MM_GLU_*: the vec path only
  MatmulPath path = MatmulPath::automatic;
  // The matvec variant when the caller rules (a forced variant, or enabled features without
  // subgroup arithmetic: false); unset: choose_matmul picks from the caps.
  std::optional<bool> subgroup;
};

// Every decision of the dense matmul in one place (issue 9: choose next to the recorder): path,
// variant, specialization constants and workgroup counts, from the device's caps and the shape
// alone, so it is unit-tested without a device. Throws std::invalid_argument on a shape the
// kernels do not take (vec path with more than MM_VEC_MAX_T tokens, no tokens).
struct MatmulChoice {
  MatmulPath path = MatmulPath::vec;  // vec or tiled, never automatic
  bool subgroup = false;              // the matvec's subgroup variant (the tiled kernel has one)
  VecShape spec;                      // specialization constants (dense_spec())
  uint64_t row_groups = 0;            // workgroups along the rows (vec: laid out by grid_2d)
  uint32_t token_groups = 1;          // tiled: workgroups along the tokens
};
MatmulChoice choose_matmul(const DeviceCaps& caps, const MatmulShape& shape);
MatmulShape matmul_shape(const DenseWeight& w, uint32_t tokens, uint32_t x_stride, bool norm, MatmulPath path);
// Weight types whose blocks are read through load_words' uvec4 window (any even offset): they
// need only padded bindings for W_VEC4; the others need 16-byte-aligned rows.
bool matmul_window_type(GgmlType type);

// y[t, r] = sum_k W[r, k] x[t, k] (or y += with accumulate, e.g. into the residual stream):
// x [tokens, cols] with x_stride floats between rows, y [tokens, rows] with y_stride; with a norm
// prologue, norm + matmul is one dispatch ("norm + next matvec"); with a glu, y [tokens, rows / 2]
// is the gated activation of the two halves (one dispatch for gate, up and the activation).
void record_matmul(Context& ctx, Sequence& seq, const DenseWeight& w, uint32_t tokens, BufferRange x,
                   BufferRange y, const MatmulOptions& options = {});

// One matvec of record_matvec_pair: y = W x as record_matmul's (no accumulate, scale or glu).
struct MatvecProblem {
  const DenseWeight* w = nullptr;
  BufferRange x, y;
  uint32_t x_stride = 0, y_stride = 0;  // 0 = cols / rows
  std::optional<NormPrologue> norm;
};
// Two matvecs (tokens <= MM_VEC_MAX_T) that read different inputs, of different widths, in one
// dispatch: the workgroups of a's rows read a's x and weight, the rest b's (DeepSeek-V3's q_b and
// kv_b). One dispatch needs one weight type, each weight in one piece, b's x after a's in one
// buffer (at any float offset: no binding alignment), both norm prologues or neither (same eps,
// b's weight after a's in one buffer). Returns false, recording nothing, where they cannot: the
// caller records them apart (b's x need not be bindable on its own here). variant: forced (tests).
bool record_matvec_pair(Context& ctx, Sequence& seq, uint32_t tokens, const MatvecProblem& a, const MatvecProblem& b,
                        const std::string& variant = "");

// y[t, :] = W[ids[t], :] as f32, times scale (ids: uint32 [tokens]; an id >= rows gives zeros).
void record_get_rows(Context& ctx, Sequence& seq, const DenseWeight& table, uint32_t tokens, BufferRange ids,
                     BufferRange y, uint32_t y_stride = 0, float scale = 1.0f);

// Kernel names for a weight type ("matvec_q4_k", "matmul_f16", "get_rows_q8_0"), for tests
// that enumerate Pipelines::supported_variants.
std::string matmul_kernel_name(const char* stage, GgmlType type);

}  // namespace vkmoe
