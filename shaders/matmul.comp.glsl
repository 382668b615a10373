#version 450
#extension GL_EXT_control_flow_attributes : require
// Dense matmul y[T, N] (+)= W[N, K] x[T, K] on weights in their GGUF block layout (TYPE), f32
// accumulation. Two shapes:
//   GEMM=0, matrix-vector (decode, T <= MM_VEC_MAX_T): one subgroup (portable: one invocation)
//     per 2 rows; lanes split K in chunks of 8, each dequantized once and used for every token.
//   GEMM=1, tiled (prefill): register tiles of MM_GEMM_ROWS rows x MM_GEMM_TOKENS tokens per
//     invocation, the tokens shared by the workgroup; no shared memory or barrier in the loop.
#if USE_SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#define USE_MATMUL_PARAMS
#include "ops_params.h"

layout(std430, binding = 0) readonly buffer Xb { float x[]; };
layout(std430, binding = 0) readonly buffer Xb4 { vec4 x4[]; };  // the same, 4 at a time (faster
                                                                  // loads; rows 4-aligned only)
layout(std430, binding = 1) buffer Yb { float y[]; };
#define W_BINDING 2
#include "matmul_weights.glsl"
// MM_NORM: the norm weight (binding 6, after the weight pieces). y = W (x * inv_rms * norm_w),
// computed as inv_rms * (W (x * norm_w)): the norm fuses into the input loads and the store.
layout(std430, binding = W_BINDING + MM_MAX_PIECES) readonly buffer Nb { float norm_w[]; };
layout(std430, binding = W_BINDING + MM_MAX_PIECES) readonly buffer Nb4 { vec4 norm_w4[]; };
// The norm's bias (binding 7, NORM_BIAS) and MM_BIAS's per-row output bias (binding 8).
layout(std430, binding = W_BINDING + MM_MAX_PIECES + 1) readonly buffer NBb { float norm_b[]; };
layout(std430, binding = W_BINDING + MM_MAX_PIECES + 1) readonly buffer NBb4 { vec4 norm_b4[]; };
layout(std430, binding = W_BINDING + MM_MAX_PIECES + 2) readonly buffer OBb { float out_b[]; };
// Specialization constants (set with MM_NORM): a branch in the loads slows lavapipe's code.
layout(constant_id = 5) const bool NORM = false;
// LayerNorm (7: the token's mean subtracted, variance about it) and a norm with a bias (8):
// y = W (((x - mean) / std) * w + b) = (1 / std) * W ((x - mean) * w + b * std), so the loads
// take the mean and b * std and the store keeps the one scale. The token's mean and std are
// computed before the rows (norm_stats), nothing is precomputed at load.
layout(constant_id = 7) const bool NORM_CENTER = false;
layout(constant_id = 8) const bool NORM_BIAS = false;
#define NORM_AFFINE (NORM && (NORM_CENTER || NORM_BIAS))  // a macro: glslc cannot optimize a const of it
#if MM_GEMM_TOKENS > MM_VEC_MAX_T
#error norm_mean is sized for MM_VEC_MAX_T tokens
#endif
float norm_mean[MM_VEC_MAX_T], norm_std[MM_VEC_MAX_T], norm_inv[MM_VEC_MAX_T];  // NORM_AFFINE, per token

// The problem this workgroup computes: p's, or (matvec PAIR) the second one's from p.pair_*: its
// shape, where its x rows start (floats into x) and its norm weight (floats into norm_w).
uint P_B, P_ROWS, P_COLS, P_ROW_BYTES, P_XS, P_YS, P_X0, P_N0;
void set_problem(bool b) {
  P_B = b ? 1u : 0u;
  P_ROWS = b ? p.pair_rows : p.rows;
  P_COLS = b ? p.pair_cols : p.cols;
  P_ROW_BYTES = b ? p.pair_row_bytes : p.row_bytes;
  P_XS = b ? p.pair_x_stride : p.x_stride;
  P_YS = b ? p.pair_y_stride : p.y_stride;
  P_X0 = b ? p.pair_x_offset : 0u;
  P_N0 = b ? p.pair_norm_offset : 0u;
}

#if GEMM == 0
// PAIR (specialization constant 10): two matvecs of one weight type in one dispatch. Workgroups
// from p.pair_groups on compute the second: its weight is piece 1, its x and norm weight are at
// offsets into the same bindings, its y is binding 9. Both the q_b and kv_b of DeepSeek's MLA.
layout(constant_id = 10) const bool PAIR = false;
layout(std430, binding = W_BINDING + MM_MAX_PIECES + 3) buffer Yb2 { float y2[]; };
#endif

// v = x[t, col] through the norm's prologue (times the weight; with NORM_AFFINE the mean and bias).
float norm_in(uint t, uint col, float v) {
  if (!NORM) return v;
  if (NORM_CENTER) v -= norm_mean[t];
  v *= norm_w[P_N0 + col];
  if (NORM_BIAS) v += norm_b[col] * norm_std[t];
  return v;
}
vec4 norm_in4(uint t, uint i, vec4 v) {
  if (!NORM) return v;
  if (NORM_CENTER) v -= norm_mean[t];
  v *= norm_w4[P_N0 / 4u + i];
  if (NORM_BIAS) v += norm_b4[i] * norm_std[t];
  return v;
}

// p.scale (0 reads as 1) multiplies the product, or with MM_SCALE_SUM (and MM_ACCUMULATE) the sum.
float stored(float old, float v) {
  const float s = p.scale == 0.0 ? 1.0 : p.scale;
  if ((p.flags & MM_ACCUMULATE) == 0) return v * s;
  return (p.flags & MM_SCALE_SUM) != 0 ? (old + v) * s : old + v * s;
}

// x[t, col] through the norm's prologue.
float x_at(uint t, uint col) { return norm_in(t, col, x[P_X0 + t * P_XS + col]); }

// The epilogue: MM_BIAS adds the row's bias, MM_SOFTCAP then caps (p.softcap * tanh(v / p.softcap)),
// then MM_SCALE and MM_ACCUMULATE (stored).
void store(uint t, uint r, float v) {
  if ((p.flags & MM_BIAS) != 0) v += out_b[r];
  if ((p.flags & MM_SOFTCAP) != 0) v = p.softcap * tanh(v / p.softcap);
  const uint o = t * P_YS + r;
#if GEMM == 0
  if (PAIR && P_B != 0) {
    y2[o] = stored((p.flags & MM_ACCUMULATE) != 0 ? y2[o] : 0.0, v);
    return;
  }
#endif
  y[o] = stored((p.flags & MM_ACCUMULATE) != 0 ? y[o] : 0.0, v);
}

#if GEMM == 0
// Matrix-vector: lane groups of lanes.glsl, RPS rows each. The accumulators are a constant-size
// array (TOKENS a specialization constant); only 1 token gets its own pipeline, 2..8 share one
// (fewer pipelines to compile) and skip the tokens past p.tokens.
#include "lanes.glsl"
layout(constant_id = 2) const uint TOKENS = 1;  // 1 (decode), or MM_VEC_MAX_T >= p.tokens
// P_XS % 4 == 0: x is read as vec4 (a quarter of the load cost on lavapipe). A constant,
// not a branch: with both loops in one pipeline the 1-token matvec ran 3x slower on lavapipe.
layout(constant_id = 4) const bool X_VEC4 = false;
// MM_GLU_*: a lane group's RPS = 2 rows r0, r0 + 1 (r0 even) are weight rows r0 / 2 and
// r0 / 2 + P_ROWS / 2 (gate and up of output r0 / 2), stored as act(gate) * up: the activation
// rides on the matvec instead of a dispatch of its own. The row grid is unchanged.
layout(constant_id = 9) const uint GLU = 0;

// The weight row behind a lane group's row r of the pair from r0.
uint group_row(uint r0, uint r) { return GLU != 0 ? r0 / 2u + r * (P_ROWS / 2u) : min(r0 + r, P_ROWS - 1); }

float glu(float g, float u) {
  if (GLU == MM_GLU_GELU) return 0.5 * g * (1.0 + tanh(0.7978845608028654 * g * (1.0 + 0.044715 * g * g))) * u;
  return g / (1.0 + exp(-g)) * u;  // silu, as eltwise's ELT_SILU_MUL
}

// The byte offset of weight row r of this workgroup's problem, and its piece (PAIR: A's weight is
// piece 0, B's piece 1, each one piece).
uint vec_weight_row(uint r, out uint piece) {
  if (!PAIR) return weight_row(r, piece);
  piece = P_B;
  return p.base[P_B] + r * P_ROW_BYTES;
}

void load_x8(uint t, uint c, out float v[8]) {
  if (8u * c + 8u <= P_COLS) {
    for (uint i = 0; i < 8; ++i) v[i] = x_at(t, 8u * c + i);
  } else {
    for (uint i = 0; i < 8; ++i) v[i] = 8u * c + i < P_COLS ? x_at(t, 8u * c + i) : 0.0;
  }
}

// 1 / rms of token t's x (MM_NORM), summed by the lane group: each group recomputes it, which
// costs one more read of x per group instead of a barrier or a separate dispatch.
float inv_rms(uint t) {
  float ss = 0.0;
  for (uint i = LANE; i < P_COLS; i += LANES) {
    const float v = x[P_X0 + t * P_XS + i];
    ss += v * v;
  }
  return 1.0 / sqrt(LANE_SUM(ss) / float(P_COLS) + p.eps);
}

// NORM_AFFINE: each token's mean (NORM_CENTER) and std, by the lane group before its rows; the
// variance from a second pass over the centred values (E[x^2] - mean^2 cancels).
void norm_stats() {
  for (uint t = 0; t < TOKENS; ++t) {
    if (t >= p.tokens) break;
    float mean = 0.0;
    if (NORM_CENTER) {
      float s1 = 0.0;
      for (uint i = LANE; i < P_COLS; i += LANES) s1 += x[P_X0 + t * P_XS + i];
      mean = LANE_SUM(s1) / float(P_COLS);
    }
    float ss = 0.0;
    for (uint i = LANE; i < P_COLS; i += LANES) {
      const float v = x[P_X0 + t * P_XS + i] - mean;
      ss += v * v;
    }
    const float var = LANE_SUM(ss) / float(P_COLS) + p.eps;
    norm_mean[t] = mean;
    norm_inv[t] = 1.0 / sqrt(var);
    norm_std[t] = sqrt(var);
  }
}

// x elements 4i .. 4i + 3 of token t (times the norm weight with MM_NORM), for dequant_direct.glsl.
vec4 unit_x4(uint t, uint i) {
  if (X_VEC4) return norm_in4(t, i, x4[(P_X0 + t * P_XS) / 4u + i]);
  return vec4(x_at(t, 4u * i), x_at(t, 4u * i + 1u), x_at(t, 4u * i + 2u), x_at(t, 4u * i + 3u));
}
#include "dequant_direct.glsl"

// Accumulators sized by the TOKENS specialization constant cannot be function parameters
// (glslc), so rows_dot keeps its inner loops in its own body.
void rows_dot(uint r0) {
  uint piece[RPS], start[RPS];
  for (uint r = 0; r < RPS; ++r) start[r] = vec_weight_row(group_row(r0, r), piece[r]);
  float acc[RPS * TOKENS];
  for (uint i = 0; i < RPS * TOKENS; ++i) acc[i] = 0.0;
#ifdef HAS_DIRECT
  // Lanes take units of DUNIT elements (dequant_direct.glsl): each row's words are loaded once
  // and used for every token.
  for (uint u = LANE; u < direct_count(P_COLS); u += LANES) {
    DirectW w[RPS];
    [[unroll]] for (uint r = 0; r < RPS; ++r) direct_load(0, piece[r], start[r], u, w[r]);
    for (uint t = 0; t < TOKENS; ++t) {
      if (t >= p.tokens) break;
      float s[RPS];
      direct_dot(w, t, u, s);
      [[unroll]] for (uint r = 0; r < RPS; ++r) acc[t * RPS + r] += s[r];
    }
  }
#elif defined(HAS_UNIT)
  // Lanes take whole units (dequant_unit.glsl); block types' rows are whole units, plain float
  // rows leave unaligned rows and their tail to dequant8 below.
  for (uint u = LANE; u < unit_count(P_COLS); u += LANES) {
    float q[RPS][UNIT];
    vec2 ab[RPS][UNIT / 16];
    [[unroll]] for (uint r = 0; r < RPS; ++r) unit_q(0, piece[r], start[r], u, q[r], ab[r]);
    for (uint t = 0; t < TOKENS; ++t) {
      if (t >= p.tokens) break;
      float xv[UNIT], sx[UNIT / 16];
      if (X_VEC4) {
        [[unroll]] for (uint i = 0; i < UNIT / 4; ++i) {
          const vec4 v = norm_in4(t, UNIT / 4u * u + i, x4[(P_X0 + t * P_XS + UNIT * u) / 4u + i]);
          xv[4 * i] = v.x, xv[4 * i + 1] = v.y, xv[4 * i + 2] = v.z, xv[4 * i + 3] = v.w;
        }
      } else {
        [[unroll]] for (uint i = 0; i < UNIT; ++i) xv[i] = x_at(t, UNIT * u + i);
      }
      unit_sums(xv, sx);
      [[unroll]] for (uint r = 0; r < RPS; ++r) acc[t * RPS + r] += unit_dot(q[r], ab[r], xv, sx);
    }
  }
#endif
#if TAIL_LOOP
  const uint c0 = TAIL_CHUNK0(P_COLS);
  for (uint c = c0 + LANE; c < (P_COLS + 7u) / 8u; c += LANES) {
    float w[RPS][8];
    for (uint r = 0; r < RPS; ++r) dequant8(0, piece[r], start[r], c, P_COLS, w[r]);
    for (uint t = 0; t < TOKENS; ++t) {
      if (t >= p.tokens) break;
      float xv[8];
      load_x8(t, c, xv);
      for (uint r = 0; r < RPS; ++r) {
        float s = 0.0;
        for (uint i = 0; i < 8; ++i) s += w[r][i] * xv[i];
        acc[t * RPS + r] += s;
      }
    }
  }
#endif
  for (uint t = 0; t < TOKENS; ++t) {
    if (t >= p.tokens) break;
    const float scale = NORM_AFFINE ? norm_inv[t] : NORM ? inv_rms(t) : 1.0;
    float s[RPS];
    for (uint r = 0; r < RPS; ++r) s[r] = LANE_SUM(acc[t * RPS + r]) * scale;
    if (GLU != 0) {
      if (LANE == 0) store(t, r0 / 2u, glu(s[0], s[1]));
    } else {
      for (uint r = 0; r < RPS; ++r)
        if (LANE == 0 && r0 + r < P_ROWS) store(t, r0 + r, s[r]);
    }
  }
}

void main() {
  dequant_prologue();
  uint wg = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
  const bool b = PAIR && wg >= p.pair_groups;  // uniform: a workgroup's rows are of one problem
  set_problem(b);
  if (b) wg -= p.pair_groups;
  if (NORM_AFFINE) norm_stats();
  const uint wg_row0 = wg * ROWS_PER_WG;
  const uint end = min(wg_row0 + ROWS_PER_WG, P_ROWS);
  for (uint r0 = wg_row0 + GROUP * RPS; r0 < end; r0 += GROUPS * RPS) rows_dot(r0);
}

#else
// Tiled (prefill): register tiles, no shared memory in the main loop. Invocation i of workgroup
// (x, y) owns rows x * MM_GEMM_ROWS * WG + i + WG * r (r < MM_GEMM_ROWS) and the MM_GEMM_TOKENS
// tokens from y * MM_GEMM_TOKENS. The tokens are the same for the whole workgroup, so every x
// load has one address for all invocations (one load and a broadcast on a SIMD CPU, an L1
// broadcast on a GPU), and each step of a weight row (8 columns by dequant8,
// gemm_tile.glsl) is dequantized once for MM_GEMM_TOKENS tokens. The only barrier is the norm's.
#define GR MM_GEMM_ROWS
#define GT MM_GEMM_TOKENS
layout(local_size_x_id = 0) in;  // from the device's subgroup size (gemm_workgroup in matmul.cpp)
layout(constant_id = 4) const bool X_VEC4 = false;  // x rows 4-aligned: vec4 loads
#define WG gl_WorkGroupSize.x
#define NW GR
#include "gemm_tile.glsl"
uint piece[GR], start[GR];  // the invocation's weight rows (set by main)
void tile_weights(uint c, out float w[NW][TILE_K]) {
  [[unroll]] for (uint r = 0; r < GR; ++r) tile_row(0, piece[r], start[r], c, w[r]);
}
// Input j's step c through the norm's prologue. Columns past the row (a partial last step) stay
// 0: the affine prologue would make them (0 - mean) * w + b * std.
void tile_scale_input(uint c, uint j, inout float v[TILE_K]) {
  if (!NORM) return;
  [[unroll]] for (uint i = 0; i < TILE_K; ++i) {
    const uint col = TILE_K * c + i;
    v[i] = norm_in(j, min(col, p.cols - 1), v[i]);
    if (NORM_AFFINE) v[i] = col < p.cols ? v[i] : 0.0;
  }
}
shared float norm_part[GT * 4];  // MM_NORM: 4 partial sums per token

// 4 partial sums per tile token of (x - mean[j])^2 (sq) or x, by the workgroup, then summed.
void tile_sums(uint t0, bool sq, float mean[GT], out float s[GT]) {
  for (uint i = gl_LocalInvocationID.x; i < GT * 4; i += WG) {
    const uint t = min(t0 + i / 4u, p.tokens - 1);
    float a = 0.0;
    for (uint k = i % 4u; k < p.cols; k += 4u) {
      const float v = x[t * p.x_stride + k] - mean[i / 4u];
      a += sq ? v * v : v;
    }
    norm_part[i] = a;
  }
  barrier();
  [[unroll]] for (uint j = 0; j < GT; ++j) s[j] = norm_part[4 * j] + norm_part[4 * j + 1] + norm_part[4 * j + 2] + norm_part[4 * j + 3];
  if (!sq) barrier();  // the mean's sums read before the variance's call writes them
}

// MM_NORM: 1 / rms (or 1 / std, with the mean, NORM_AFFINE) of the tile's tokens, by the workgroup.
void tile_inv_rms(uint t0, out float inv[GT]) {
  float mean[GT], s[GT];
  [[unroll]] for (uint j = 0; j < GT; ++j) mean[j] = 0.0;
  if (NORM_CENTER) {
    tile_sums(t0, false, mean, s);
    [[unroll]] for (uint j = 0; j < GT; ++j) mean[j] = s[j] / float(p.cols);
  }
  tile_sums(t0, true, mean, s);
  [[unroll]] for (uint j = 0; j < GT; ++j) {
    const float var = s[j] / float(p.cols) + p.eps;
    inv[j] = 1.0 / sqrt(var);
    norm_mean[j] = mean[j];
    norm_std[j] = sqrt(var);
  }
}

void main() {
  dequant_prologue();
  set_problem(false);
  const uint lid = gl_LocalInvocationID.x;
  const uint row0 = gl_WorkGroupID.x * (GR * WG) + lid, t0 = gl_WorkGroupID.y * GT;
  float inv[GT];
  if (NORM) tile_inv_rms(t0, inv);  // uniform
  uint xrow[GT];
  [[unroll]] for (uint r = 0; r < GR; ++r) start[r] = weight_row(min(row0 + WG * r, p.rows - 1), piece[r]);
  // Tokens past the end repeat the last one (valid reads, never stored).
  [[unroll]] for (uint j = 0; j < GT; ++j) xrow[j] = min(t0 + j, p.tokens - 1) * p.x_stride;
  float acc[GR * GT];
  tile_loop(xrow, acc);

  [[unroll]] for (uint r = 0; r < GR; ++r) {
    const uint row = row0 + WG * r;
    if (row >= p.rows) continue;
    [[unroll]] for (uint j = 0; j < GT; ++j)
      if (t0 + j < p.tokens) store(t0 + j, row, NORM ? acc[r * GT + j] * inv[j] : acc[r * GT + j]);
  }
}
#endif
