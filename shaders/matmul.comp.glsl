#version 450
#extension GL_EXT_control_flow_attributes : require
// Dense matmul y[T, N] (+)= W[N, K] x[T, K] on weights in their GGUF block layout (TYPE), f32
// accumulation. Two shapes:
//   GEMM=0, matrix-vector (decode, T <= MM_VEC_MAX_T): one subgroup (portable: one invocation)
//     per 2 rows; lanes split K in chunks of 8, each dequantized once and used for every token.
//   GEMM=1, tiled (prefill): one workgroup per BN rows x BT tokens; each K step dequantizes a
//     BN x BK weight tile and loads a BT x BK input tile into shared memory, and each
//     invocation accumulates a 4 x 4 block of outputs from them.
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
// A specialization constant (set with MM_NORM): a branch in the loads slows lavapipe's code.
layout(constant_id = 5) const bool NORM = false;

// x[t, col], times the norm weight with MM_NORM.
float x_at(uint t, uint col) {
  const float v = x[t * p.x_stride + col];
  return NORM ? v * norm_w[col] : v;
}

void store(uint t, uint r, float v) {
  const uint o = t * p.y_stride + r;
  y[o] = (p.flags & MM_ACCUMULATE) != 0 ? y[o] + v : v;
}

#if GEMM == 0
// Matrix-vector: lane groups of lanes.glsl, RPS rows each. The accumulators are a constant-size
// array (TOKENS a specialization constant); only 1 token gets its own pipeline, 2..8 share one
// (fewer pipelines to compile) and skip the tokens past p.tokens.
#include "lanes.glsl"
layout(constant_id = 2) const uint TOKENS = 1;  // 1 (decode), or MM_VEC_MAX_T >= p.tokens
// p.x_stride % 4 == 0: x is read as vec4 (a quarter of the load cost on lavapipe). A constant,
// not a branch: with both loops in one pipeline the 1-token matvec ran 3x slower on lavapipe.
layout(constant_id = 4) const bool X_VEC4 = false;

void load_x8(uint t, uint c, out float v[8]) {
  if (8u * c + 8u <= p.cols) {
    for (uint i = 0; i < 8; ++i) v[i] = x_at(t, 8u * c + i);
  } else {
    for (uint i = 0; i < 8; ++i) v[i] = 8u * c + i < p.cols ? x_at(t, 8u * c + i) : 0.0;
  }
}

// 1 / rms of token t's x (MM_NORM), summed by the lane group: each group recomputes it, which
// costs one more read of x per group instead of a barrier or a separate dispatch.
float inv_rms(uint t) {
  float ss = 0.0;
  for (uint i = LANE; i < p.cols; i += LANES) {
    const float v = x[t * p.x_stride + i];
    ss += v * v;
  }
  return 1.0 / sqrt(LANE_SUM(ss) / float(p.cols) + p.eps);
}

// Accumulators sized by the TOKENS specialization constant cannot be function parameters
// (glslc), so rows_dot keeps both inner loops in its own body.
void rows_dot(uint r0) {
  uint piece[RPS], start[RPS];
  for (uint r = 0; r < RPS; ++r) start[r] = weight_row(min(r0 + r, p.rows - 1), piece[r]);
  float acc[RPS * TOKENS];
  for (uint i = 0; i < RPS * TOKENS; ++i) acc[i] = 0.0;
#ifdef HAS_UNIT
  // Lanes take whole units (dequant_unit.glsl); block types' rows are whole units, plain float
  // rows leave unaligned rows and their tail to dequant8 below.
  for (uint u = LANE; u < unit_count(p.cols); u += LANES) {
    float q[RPS][UNIT];
    vec2 ab[RPS][UNIT / 16];
    [[unroll]] for (uint r = 0; r < RPS; ++r) unit_q(0, piece[r], start[r], u, q[r], ab[r]);
    for (uint t = 0; t < TOKENS; ++t) {
      if (t >= p.tokens) break;
      float xv[UNIT], sx[UNIT / 16];
      if (X_VEC4) {
        [[unroll]] for (uint i = 0; i < UNIT / 4; ++i) {
          vec4 v = x4[(t * p.x_stride + UNIT * u) / 4u + i];
          if (NORM) v *= norm_w4[UNIT / 4u * u + i];
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
#if !defined(HAS_UNIT) || UNIT_TAIL
  const uint c0 = generic_chunk0(p.cols);
  for (uint c = c0 + LANE; c < (p.cols + 7u) / 8u; c += LANES) {
    float w[RPS][8];
    for (uint r = 0; r < RPS; ++r) dequant8(0, piece[r], start[r], c, p.cols, w[r]);
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
    const float scale = NORM ? inv_rms(t) : 1.0;
    for (uint r = 0; r < RPS; ++r) {
      const float s = LANE_SUM(acc[t * RPS + r]) * scale;
      if (LANE == 0 && r0 + r < p.rows) store(t, r0 + r, s);
    }
  }
}

void main() {
  const uint wg_row0 = wg_first_row();
  const uint end = min(wg_row0 + ROWS_PER_WG, p.rows);
  for (uint r0 = wg_row0 + GROUP * RPS; r0 < end; r0 += GROUPS * RPS) rows_dot(r0);
}

#else
#define WG 128
#define BN 64  // weight rows per tile
#define BT 32  // tokens per tile
#define BK 32  // columns per step: 4 chunks of 8
layout(local_size_x = WG) in;
shared float ws[BN][BK + 1];  // +1: no bank conflicts between rows
shared float xs[BT][BK + 1];
shared float norm_part[WG];  // MM_NORM: WG / BT partial sums of squares per token

// MM_NORM: 1 / rms of each of the tile's tokens into norm_part[t * (WG / BT)] (WG / BT
// invocations per token).
void tile_inv_rms(uint t0) {
  const uint tid = gl_LocalInvocationID.x, per = WG / BT, t = tid / per;
  float ss = 0.0;
  if (t0 + t < p.tokens)
    for (uint i = tid % per; i < p.cols; i += per) {
      const float v = x[(t0 + t) * p.x_stride + i];
      ss += v * v;
    }
  norm_part[tid] = ss;
  barrier();
  if (tid % per == 0) {
    float s = 0.0;
    for (uint i = 0; i < per; ++i) s += norm_part[tid + i];
    norm_part[tid] = 1.0 / sqrt(s / float(p.cols) + p.eps);
  }
  barrier();
}

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint row0 = gl_WorkGroupID.x * BN, t0 = gl_WorkGroupID.y * BT;
  if (NORM) tile_inv_rms(t0);  // uniform
  const uint tr = tid % 16u, tt = tid / 16u;  // rows tr + 16 i, tokens tt + 8 j
  float acc[4][4];
  for (uint i = 0; i < 4; ++i)
    for (uint j = 0; j < 4; ++j) acc[i][j] = 0.0;
  for (uint k0 = 0; k0 < p.cols; k0 += BK) {
    for (uint it = tid; it < BN * (BK / 8); it += WG) {
      const uint r = it / (BK / 8), c = it % (BK / 8);
      const uint row = row0 + r, chunk = k0 / 8u + c;
      float v[8];
      if (row < p.rows && 8u * chunk < p.cols) {
        uint piece;
        const uint start = weight_row(row, piece);
        dequant8(0, piece, start, chunk, p.cols, v);
      } else {
        for (uint i = 0; i < 8; ++i) v[i] = 0.0;
      }
      for (uint i = 0; i < 8; ++i) ws[r][8 * c + i] = v[i];
    }
    for (uint it = tid; it < BT * BK; it += WG) {
      const uint t = it / BK, kk = it % BK;
      const uint col = k0 + kk;
      xs[t][kk] = t0 + t < p.tokens && col < p.cols ? x_at(t0 + t, col) : 0.0;
    }
    barrier();
    for (uint kk = 0; kk < BK; ++kk) {
      float a[4], b[4];
      for (uint i = 0; i < 4; ++i) a[i] = ws[tr + 16 * i][kk];
      for (uint j = 0; j < 4; ++j) b[j] = xs[tt + 8 * j][kk];
      for (uint i = 0; i < 4; ++i)
        for (uint j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
    }
    barrier();
  }
  for (uint i = 0; i < 4; ++i)
    for (uint j = 0; j < 4; ++j) {
      const uint row = row0 + tr + 16 * i, t = t0 + tt + 8 * j;
      if (row < p.rows && t < p.tokens) store(t, row, NORM ? acc[i][j] * norm_part[(tt + 8 * j) * (WG / BT)] : acc[i][j]);
    }
}
#endif
