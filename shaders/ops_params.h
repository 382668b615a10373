// Push constants of the dense transformer kernels (norms, RoPE, KV cache, attention,
// elementwise ops, argmax, matmul, get_rows). See params_common.h.
#ifndef VKMOE_OPS_PARAMS_H
#define VKMOE_OPS_PARAMS_H
#include "params_common.h"

// rms_norm flags.
#define RMS_RESIDUAL 1u   // normalise x + r instead of x
#define RMS_WRITE_SUM 2u  // also store x + r (the residual stream) into `sum`
#define RMS_CENTER 4u     // LayerNorm: subtract the group's mean, normalise by its variance
#define RMS_BIAS 8u       // add b[n] after the weight (a norm with bias)
#define RMS_ACCUMULATE 16u  // y += the normed value (a post norm and its residual add in one)

// rope flags.
#define ROPE_NEOX 1u          // pairs (x[i], x[i + n_rot/2]) instead of (x[2i], x[2i+1])
#define ROPE_FREQ_FACTORS 2u  // divide pair i's angle by freq_factors[i] (Llama-3 style)

// rope_kv_store flags.
#define RKV_NEOX ROPE_NEOX
#define RKV_BIAS 4u       // add the bias (Qwen2-MoE) before anything else
#define RKV_NORM_HEAD 8u  // QK-norm per head with one [head_dim] weight (Qwen3)
#define RKV_NORM_FULL 16u // QK-norm over the whole q and k vectors (OLMoE)
#define RKV_NORM_AFTER_ROPE 32u  // the QK-norm applies to the rotated q and k (Hunyuan-MoE)
#define RKV_CLAMP 64u     // q, k, v clamped to [-clamp_kqv, clamp_kqv] after the bias (DBRX)
#define RKV_NORM_UNIT 128u // with RKV_NORM_HEAD: no weight (llama4's L2 QK-norm; per head, so RoPE commutes with it)
#define RKV_FREQ_FACTORS 256u  // divide pair i's angle by freq_factors[i] (llama4's rope_freqs)
#define RKV_Q_TEMP 512u   // q *= log(floor((pos + temp_offset) / temp_floor) + 1) * temp_scale + 1 (llama4's NoPE layers)

// Elementwise op codes.
#define ELT_ADD 0u       // y = a + b
#define ELT_MUL 1u       // y = a * b
#define ELT_SILU_MUL 2u  // y = silu(a) * b
#define ELT_SCALE 3u     // y = a * s
#define ELT_SOFTCAP 4u   // y = s * tanh(a / s) (Grok's final logit softcap)
#define ELT_GELU_MUL 5u  // y = gelu(a) * b, tanh approximation as ggml's gelu (Grok-2's dense FFN)

// Head dims the attention kernel supports (per-thread accumulators cover up to this).
#define ATTN_MAX_HEAD_DIM 256
#define ATTN_SINKS 1u  // sinks[head]: a logit in each head's softmax denominator (gpt-oss)
#define ATTN_CHUNKED 2u  // window is a chunk: query position q sees keys floor(q / window) * window .. q (llama4)
#define ATTN_SOFTCAP 4u  // scores capped: softcap * tanh(score / softcap) (Grok)
// Decode attention (attention_decode.comp.glsl): one workgroup per (group of query heads of one
// KV head, key split, token); split partials [tokens, heads, splits, 2 + v_head_dim] (m, l,
// unnormalised sum) merged by attention_combine.comp.glsl.
#define ATTN_DECODE_WG 64       // invocations of the decode and combine kernels
#define ATTN_DECODE_GROUP 8     // most query heads one decode workgroup serves (one K/V read)
#define ATTN_MAX_SPLITS 32      // key splits per (head, token)
// Prefill attention (attention_tile.comp.glsl): one workgroup per (group of query heads of one
// KV head, tile of ATTN_TILE_ROWS / group query tokens); K/V staged in shared memory per block.
#define ATTN_TILE_WG 64         // invocations: 4 row quads x 16 key lanes in the scoring step
#define ATTN_TILE_ROWS 16       // query rows (token, head) per workgroup

// Matmul and get_rows: weight rows may be split over this many bindings (pieces of whole rows).
#define MM_MAX_PIECES 4
#define MM_ACCUMULATE 1u  // y += W x instead of y = W x
#define MM_NORM 2u        // x is RMS-normalized first: x / sqrt(mean(x^2) + eps) * norm_w
#define MM_BIAS 4u        // y gets a per-row bias at the store (before MM_ACCUMULATE's add)
#define MM_SOFTCAP 8u     // then y = softcap * tanh(y / softcap) (Grok's final logit cap)
#define MM_SCALE_SUM 16u  // with MM_ACCUMULATE: y = (y + W x) * scale (Grok-2's (dense + MoE) / sqrt(2));
                          // without it the product alone is scaled: y (+)= scale * W x
#define MM_GLU_SILU 1u    // matvec specialization constant 9 (MM_GLU): y[r] = act(W[r] x) * W[r + rows/2] x
#define MM_GLU_GELU 2u    // ... act silu or GELU (tanh form): a [gate | up] weight, rows/2 outputs
#define MM_VEC_MAX_T 8    // tokens the matrix-vector kernel takes at once
#define MM_GEMM_ROWS 4    // tiled kernel: weight rows per invocation (a chunk's dequant serves
#define MM_GEMM_TOKENS 8  // ... this many tokens, shared by the workgroup)

#ifdef __cplusplus
namespace vkmoe {
#endif

// RoPE's angle parameters, in every block whose kernel rotates (rope_theta.glsl reads them):
// log2(freq_base), linear scale, YaRN mix (0 = off), cos/sin magnitude (attn_factor, times
// YaRN's correction), YaRN's correction dims (pair indices, from rope_yarn_corr_dims).
#define ROPE_ANGLE_FIELDS \
  float log2_base;        \
  float freq_scale;       \
  float ext_factor;       \
  float mscale;           \
  float corr_low;         \
  float corr_high;

#if defined(__cplusplus) || defined(USE_RMS_NORM_PARAMS)
// One normalised group = n consecutive floats; each token row holds `groups` of them.
VKMOE_PARAMS(RmsNormParams) {
  uint tokens;
  uint groups;    // groups per token (heads for QK-norm, 1 for a plain row norm)
  uint n;         // elements per group, also the weight's length
  uint x_stride;  // floats between token rows of x (and r, sum)
  uint y_stride;  // floats between token rows of y
  uint flags;     // RMS_*
  float eps;
  uint x_offset;  // floats before row 0 of x (and r, sum): need not meet the binding alignment
} VKMOE_PARAMS_END(RmsNormParams, 32);
#endif

#if defined(__cplusplus) || defined(USE_ROPE_PARAMS)
VKMOE_PARAMS(RopeParams) {
  uint tokens;
  uint heads;
  uint head_dim;
  uint n_rot;        // rotated dims per head (even, <= head_dim); the rest are copied
  uint x_stride;     // floats between token rows of x
  uint y_stride;     // floats between token rows of y
  uint flags;        // ROPE_*
  ROPE_ANGLE_FIELDS
  uint rot_offset;   // dims before the rotated part in each head (even; DeepSeek's q_pe sits last)
  uint pad1, pad2;
} VKMOE_PARAMS_END(RopeParams, 64);
#endif

#if defined(__cplusplus) || defined(USE_KV_STORE_PARAMS)
VKMOE_PARAMS(KvStoreParams) {
  uint tokens;
  uint kv_heads;
  uint head_dim;  // even: the cache stores f16 pairs in uint words
  uint k_stride;  // floats between token rows of the new K
  uint v_stride;
  uint n_ctx;     // cache rows; positions >= n_ctx are skipped
  uint v_head_dim;  // even; may differ from head_dim (DeepSeek MLA: 192 / 128)
  uint pad1;
} VKMOE_PARAMS_END(KvStoreParams, 32);
#endif

#if defined(__cplusplus) || defined(USE_MLA_KV_PARAMS)
// DeepSeek MLA: builds each head's key [k_nope (nope), k_pe (n_rot, shared by all heads)] and
// value [dv] from the decompressed kv [tokens, heads, nope + dv] and k_pe, straight into the f16
// cache. With MLA_ROPE it also applies RoPE (normal layout) to k_pe and to the last n_rot dims
// of each q head, q read at q_offset + t * q_stride and written packed to q_out.
#define MLA_ROPE 1u
VKMOE_PARAMS(MlaKvParams) {
  uint tokens;
  uint heads;
  uint nope;       // even
  uint n_rot;      // even: the rope dims of a key
  uint dv;         // even
  uint kv_stride;  // floats between token rows of kv
  uint pe_stride;  // floats between token rows of k_pe
  uint pe_offset;  // floats before row 0's k_pe inside its binding
  uint n_ctx;      // cache rows; positions >= n_ctx are skipped
  uint flags;      // MLA_ROPE
  uint q_stride;   // floats between token rows of the q input
  uint q_offset;   // floats before row 0 of the q input
  ROPE_ANGLE_FIELDS
  uint pad0, pad1;
} VKMOE_PARAMS_END(MlaKvParams, 80);
#endif

#if defined(__cplusplus) || defined(USE_RKV_PARAMS)
// rope_kv_store: bias, QK-norm and RoPE of one token's q and k, q written out (f32) and k, v
// stored in the f16 cache. q, k and v are read at float offset + t * stride of their bindings
// (one fused q|k|v row, or three tensors); the bias and norm bindings hold [q | k | v] and
// [q_norm | k_norm] at the given offsets.
VKMOE_PARAMS(RopeKvParams) {
  uint tokens;
  uint heads;      // query heads
  uint kv_heads;
  uint head_dim;   // q and k head width: even
  uint v_dim;      // v head width: even
  uint n_rot;      // rotated dims per head: even
  uint rot_offset; // dims before the rotated part in each head: even
  uint flags;      // RKV_*
  uint q_stride, k_stride, v_stride;
  uint q_offset, k_offset, v_offset;
  uint bk_offset, bv_offset;  // the q bias starts at 0
  uint kn_offset;             // the q norm weight starts at 0
  uint n_ctx;      // cache rows; positions >= n_ctx are not stored
  float eps;
  ROPE_ANGLE_FIELDS
  float clamp_kqv; // with RKV_CLAMP
  float temp_scale, temp_offset, temp_floor;  // RKV_Q_TEMP
  uint ring;       // > 0: the cache is a ring of this many rows (position p in row p % ring)
  uint pad1, pad2;
} VKMOE_PARAMS_END(RopeKvParams, 128);
#endif

#if defined(__cplusplus) || defined(USE_ATTN_PARAMS)
VKMOE_PARAMS(AttnParams) {
  uint tokens;     // query tokens, at positions pos .. pos + tokens - 1
  uint pos;
  uint heads;      // query heads
  uint kv_heads;   // divides heads
  uint head_dim;   // query/key width: even, <= ATTN_MAX_HEAD_DIM
  uint q_stride;   // floats between token rows of q
  uint o_stride;   // floats between token rows of the output
  float scale;     // applied to q.k (usually 1/sqrt(head_dim))
  uint v_head_dim; // value/output width: even, <= ATTN_MAX_HEAD_DIM
  uint window;     // sliding window: query position q sees keys q - window + 1 .. q; 0 = all
  uint flags;      // ATTN_*
  uint ring;       // > 0: the cache is a ring of this many rows (key j in row j % ring)
  float softcap;   // with ATTN_SOFTCAP
  uint splits;     // decode kernel: key splits (workgroups along y); 1 = o written directly
} VKMOE_PARAMS_END(AttnParams, 56);
#endif

#if defined(__cplusplus) || defined(USE_ELT_PARAMS)
VKMOE_PARAMS(EltParams) {
  uint rows;
  uint n;  // elements per row
  uint a_stride;
  uint b_stride;
  uint y_stride;
  uint op;  // ELT_*
  float s;  // ELT_SCALE's factor, ELT_SOFTCAP's cap
  uint a_offset;  // floats before row 0 inside the bound range (offsets below the binding
  uint b_offset;  // alignment, e.g. the up half of a fused gate/up row)
  uint y_offset;
  uint pad0, pad1;
} VKMOE_PARAMS_END(EltParams, 48);
#endif

#if defined(__cplusplus) || defined(USE_ARGMAX_PARAMS)
VKMOE_PARAMS(ArgmaxParams) {
  uint rows;
  uint n;
  uint stride;
  uint pad;
} VKMOE_PARAMS_END(ArgmaxParams, 16);
#endif

#if defined(__cplusplus) || defined(USE_MATMUL_PARAMS)
// y[t, r] = W[r, :] . x[t, :] for W [rows, cols] in a GGML block type, split by whole rows over
// MM_MAX_PIECES bindings: row r lives in piece r / rows_per_piece at byte base[piece] +
// (r % rows_per_piece) * row_bytes. get_rows uses the same block with tokens = ids.
VKMOE_PARAMS(MatmulParams) {
  uint tokens;
  uint rows;
  uint cols;
  uint row_bytes;
  uint rows_per_piece;
  uint x_stride;  // floats between token rows of x (matmul)
  uint y_stride;  // floats between token rows of y
  uint flags;     // MM_*
  uint base[4];   // per piece: byte offset of its first row inside its binding
  float eps;      // MM_NORM
  float scale;    // multiplies every value (get_rows: Granite's embedding scale; matmul: the
                  // product, or the sum with MM_SCALE_SUM); 0 reads as 1
  // A matvec pair (specialization constant 10): workgroups from pair_groups on compute the second
  // matvec, of pair_rows x pair_cols (weight piece 1, pair_row_bytes a row), x from float
  // pair_x_offset of x's binding with pair_x_stride, its norm weight from pair_norm_offset.
  uint pair_groups;
  uint pair_rows;
  uint pair_cols;
  uint pair_row_bytes;
  uint pair_x_stride;
  uint pair_y_stride;
  uint pair_x_offset;
  uint pair_norm_offset;
  float softcap;  // MM_SOFTCAP's cap
} VKMOE_PARAMS_END(MatmulParams, 92);
#endif

// Workgroup sizes (local_size_x) of the kernels whose group counts the recorders compute from it.
#define ROPE_WG 64
#define KV_STORE_WG 64      // kv_store and mla_kv_store
#define ELTWISE_WG 256

#ifdef __cplusplus
}  // namespace vkmoe
#endif
#endif
