// The dense (non-MoE) transformer kernels: RMS norm (whole rows and per-head QK-norm, with an
// optional fused residual add), RoPE (normal and NeoX, partial rotary, YaRN), the f16 KV cache
// and causal grouped-query attention over it, elementwise ops and argmax.
// Activations are f32 [tokens, n] row-major; a stride of 0 means "rows are packed".
// Each function validates its shapes and the sizes of the ranges it is given
// (std::invalid_argument naming what is wrong) and records one dispatch.
#pragma once
#include <array>
#include <cstdint>
#include <string>

#include "runtime/vk/memory.h"

namespace vkmoe {

class Context;
class Sequence;
struct DeviceCaps;

// ---- RMS norm ----
// Each token row of x holds `groups` groups of n floats; every group is normalised on its own
// and multiplied by the same weight w[n]: groups = 1 for the block norms, groups = heads and
// n = head_dim for QK-norm. y may be x (in place).
struct RmsNormShape {
  uint32_t tokens = 0;
  uint32_t groups = 1;
  uint32_t n = 0;
  uint32_t x_stride = 0;  // floats between token rows of x, residual and sum (0 = groups * n)
  uint32_t y_stride = 0;  // floats between token rows of y (0 = groups * n)
  float eps = 1e-6f;
  uint32_t x_offset = 0;  // floats before row 0 of x, residual and sum (need not be aligned)
  bool center = false;    // LayerNorm: (a - mean) / sqrt(var + eps) * w
  bool accumulate = false;  // y += the result (y must not overlap x, residual or sum)
};
// With a residual range, normalises x + residual, and with a sum range also stores x + residual
// there (the updated residual stream; sum may be x). A bias range [n] is added after the weight.
void record_rms_norm(Context& ctx, Sequence& seq, const RmsNormShape& s, BufferRange x, BufferRange w,
                     BufferRange y, BufferRange residual = {}, BufferRange sum = {},
                     const std::string& variant = "", BufferRange bias = {});

// ---- RoPE ----
struct RopeConfig {
  uint32_t head_dim = 0;  // even
  uint32_t n_rot = 0;     // rotated dims per head: even, rot_offset + n_rot <= head_dim
  uint32_t rot_offset = 0;  // even: dims before the rotated ones (DeepSeek: q_pe after q_nope)
  bool neox = false;      // pairs (x[i], x[i + n_rot/2]) rather than (x[2i], x[2i+1])
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;   // linear position interpolation (1 / scaling factor)
  float ext_factor = 0.0f;   // YaRN: 0 = off, 1 = full YaRN ramp
  float attn_factor = 1.0f;  // magnitude scale of cos/sin
  float beta_fast = 32.0f;
  float beta_slow = 1.0f;
  uint32_t n_ctx_orig = 0;   // the training context YaRN corrects for
};
// What ggml's RoPE multiplies cos/sin by under YaRN, on top of attn_factor: 1 + 0.1 ln(1 / freq_scale).
// (The factor a model passes as attn_factor: runtime/model/rope_scaling.h.)
double yarn_rope_magnitude(double freq_scale);
// YaRN's correction range in pair indices, as ggml_rope_yarn_corr_dims computes it (in float).
std::array<float, 2> rope_yarn_corr_dims(uint32_t n_rot, uint32_t n_ctx_orig, float freq_base, float beta_fast,
                                         float beta_slow);
// x: [tokens, heads * head_dim] (x_stride floats between rows), positions: uint32 [tokens],
// freq_factors: float [n_rot / 2] or empty. y may be x.
struct RopeShape {
  uint32_t tokens = 0;
  uint32_t heads = 0;
  uint32_t x_stride = 0, y_stride = 0;  // floats between rows; 0 = heads * head_dim
};
void record_rope(Context& ctx, Sequence& seq, const RopeConfig& cfg, const RopeShape& s, BufferRange x,
                 BufferRange positions, BufferRange y, BufferRange freq_factors = {});

// ---- KV cache and attention ----
// One layer's cache: K [n_ctx, kv_heads, head_dim] and V [n_ctx, kv_heads, v_head_dim], f16
// stored as pairs in uint32 words (no 16-bit storage feature needed). Both widths even.
struct KvCacheLayer {
  BufferRange k, v;
  uint32_t n_ctx = 0;
  uint32_t kv_heads = 0;
  uint32_t head_dim = 0;
  uint32_t v_head_dim = 0;  // 0 = head_dim (DeepSeek MLA: 128 values for 192-wide keys)
  // > 0: a sliding-window layer's ring of `ring` rows, position p in row p % ring (n_ctx stays
  // the positions it takes); rope_kv_store and attention only.
  uint32_t ring = 0;
  uint32_t dv() const { return v_head_dim ? v_head_dim : head_dim; }
  uint32_t rows() const { return ring ? ring : n_ctx; }
};
// Bytes of one of K or V for a layer.
uint64_t kv_cache_bytes(uint32_t n_ctx, uint32_t kv_heads, uint32_t head_dim);

// Rounds the new rows k [tokens, kv_heads * head_dim], v [tokens, kv_heads * v_head_dim] to f16
// and stores row t at cache row positions[t] (rows at or past n_ctx are skipped, never written
// out of bounds).
struct KvStoreShape {
  uint32_t tokens = 0;
  uint32_t k_stride = 0, v_stride = 0;  // floats between rows; 0 = packed
};
void record_kv_store(Context& ctx, Sequence& seq, const KvCacheLayer& cache, const KvStoreShape& s, BufferRange k,
                     BufferRange v, BufferRange positions);

// Bias, QK-norm, RoPE of q and k and the cache store of k and v for `tokens` tokens in one
// dispatch (what record_add, record_rms_norm, record_rope and record_kv_store do in seven).
// q [tokens, heads * head_dim], k [tokens, kv_heads * head_dim] and v [tokens, kv_heads *
// v_head_dim] are read at float offset + t * stride of their ranges (the three may be one
// fused q|k|v range). q_out gets q packed [tokens, heads * head_dim]; k and v go to the cache
// at positions[t] (rows at or past n_ctx are not stored).
enum class QkNorm { none, per_head, full };
struct RopeKvShape {
  uint32_t tokens = 0;
  uint32_t heads = 0;  // query heads, a multiple of the cache's kv_heads
  uint32_t q_stride = 0, k_stride = 0, v_stride = 0;  // 0 = packed rows
  uint32_t q_offset = 0, k_offset = 0, v_offset = 0;  // floats before row 0 (need not be aligned)
  // bias: [q | k | v] = heads * head_dim + kv_heads * (head_dim + v_head_dim) floats, or empty.
  // norm: [q_norm | k_norm], each head_dim (per_head) or the whole vector (full) long.
  QkNorm norm = QkNorm::none;
  float eps = 1e-6f;
  bool norm_after_rope = false;  // the QK-norm on the rotated q and k (Hunyuan-MoE)
  float clamp = 0.0f;  // > 0: q, k and v clamped to [-clamp, clamp] after the bias (DBRX's clamp_kqv)
  bool unit_norm = false;  // per_head without a weight (norm unbound): llama4's L2 QK-norm
  // llama4's attention temperature: q *= log(floor((pos + offset) / floor) + 1) * scale + 1
  // when temp_floor > 0.
  float temp_scale = 0.0f, temp_offset = 1.0f;
  uint32_t temp_floor = 0;
  BufferRange freq_factors;  // float [n_rot / 2]: each pair's angle divided by it (rope_freqs), or empty
};
void record_rope_kv_store(Context& ctx, Sequence& seq, const KvCacheLayer& cache, const RopeConfig& rope,
                          const RopeKvShape& s, BufferRange q, BufferRange k, BufferRange v, BufferRange positions,
                          BufferRange bias, BufferRange norm, BufferRange q_out, const std::string& variant = "");

// DeepSeek MLA: the cache's head h gets key [kv[t, h, 0:nope], k_pe[t]] and value
// kv[t, h, nope:nope + v_head_dim], from the decompressed kv [tokens, kv_heads, nope +
// v_head_dim] and the roped key k_pe shared by all heads (head_dim = nope + rope).
struct MlaKvShape {
  uint32_t tokens = 0;
  uint32_t nope = 0;       // even, < the cache's head_dim
  uint32_t kv_stride = 0;  // floats between token rows of kv (0 = kv_heads * (nope + v_head_dim))
  uint32_t pe_stride = 0;  // floats between token rows of k_pe (0 = rope)
  uint32_t pe_offset = 0;  // floats before row 0's k_pe (need not meet the binding alignment)
};
void record_mla_kv_store(Context& ctx, Sequence& seq, const KvCacheLayer& cache, const MlaKvShape& s,
                         BufferRange kv, BufferRange k_pe, BufferRange positions);
// The same store with RoPE (normal layout only, as DeepSeek uses) fused in: k_pe is rotated on
// its way into the cache, and the last rope.n_rot dims of each q head ([tokens, cache.kv_heads
// heads of head_dim] at q_offset + t * q_stride of q) are rotated into q_out (packed; q_out may
// be q when q is packed: each element is read and written by one invocation).
// rope.head_dim must be the cache's head_dim and rope.rot_offset = s.nope.
void record_mla_rope_kv_store(Context& ctx, Sequence& seq, const KvCacheLayer& cache, const MlaKvShape& s,
                              const RopeConfig& rope, BufferRange kv, BufferRange k_pe, BufferRange positions,
                              BufferRange q, uint32_t q_stride, uint32_t q_offset, BufferRange q_out);

struct AttentionShape {
  uint32_t tokens = 0;    // query tokens, at positions pos .. pos + tokens - 1
  uint32_t pos = 0;       // cache rows 0 .. pos + tokens - 1 must hold their K and V
  uint32_t heads = 0;     // query heads: a multiple of the cache's kv_heads
  float scale = 0.0f;     // on q.k; 0 = 1 / sqrt(head_dim)
  uint32_t q_stride = 0;  // floats between token rows of q (0 = heads * head_dim)
  uint32_t o_stride = 0;  // floats between token rows of o (0 = heads * v_head_dim)
  uint32_t window = 0;    // sliding window: keys pos + t - window + 1 .. pos + t; 0 = all
  BufferRange sinks;      // float [heads]: each head's sink logit (gpt-oss), or empty
  bool chunked = false;   // window is a chunk: keys floor((pos + t) / window) * window .. pos + t (llama4)
  float softcap = 0.0f;   // > 0: each scaled score s becomes softcap * tanh(s / softcap) (Grok)
  // f32 scratch for the decode kernel's split partials (attention_scratch_bytes); empty or too
  // small: no split (one workgroup per head group and token takes all its keys).
  BufferRange scratch;
};

// How one attention call runs. decode: attention_decode.comp.glsl, a workgroup per (group of
// `group` query heads of one KV head, key split, token), plus attention_combine when splits > 1;
// chosen below kAttnTileMinTokens tokens (and where a tile does not fit). tile:
// attention_tile.comp.glsl, a workgroup per (group of `group` heads, ATTN_TILE_ROWS / group
// tokens), K/V staged in shared memory in blocks of `block` keys and read once per tile;
// chosen for prefill. prefill: attention.comp.glsl, a workgroup per (query head, token), kept
// until all are measured on a GPU (forced only).
enum class AttentionKernel { prefill, decode, tile };
struct AttentionChoice {
  AttentionKernel kernel = AttentionKernel::prefill;
  uint32_t group = 1;      // decode, tile: query heads per workgroup (K/V read once for them)
  uint32_t splits = 1;     // decode: key splits; > 1 needs AttentionShape::scratch
  uint32_t block = 64;     // decode, tile: keys per shared-memory block (from the device's shared memory)
};
// The choice for this shape on this device (no GPU needed). The group: the largest power of two
// <= ATTN_DECODE_GROUP dividing heads / kv_heads. From kAttnTileMinTokens tokens, the tile kernel
// when a block of >= kAttnTileMinBlock keys fits the device's shared memory (attention_tile_block)
// and its workgroups reach a quarter of attention_target_workgroups(caps) (it does not split keys).
// Otherwise the decode kernel with splits until the workgroups reach
// attention_target_workgroups(caps), each split keeping >= kAttnMinSplitKeys keys, within
// ATTN_MAX_SPLITS and the scratch (sized for one token per session: a prefill chunk has
// workgroups enough without splits).
AttentionChoice choose_attention(const DeviceCaps& caps, const KvCacheLayer& cache, const AttentionShape& s);
constexpr uint32_t kAttnTileMinTokens = 16;
constexpr uint32_t kAttnTileMinBlock = 16, kAttnTileMaxBlock = 128;
// Shared memory of attention_tile.comp.glsl for these head widths and keys per block.
uint32_t attention_tile_shared(uint32_t head_dim, uint32_t v_head_dim, uint32_t block);
// The largest power-of-two block <= kAttnTileMaxBlock whose tile fits `shared` bytes; 0 if
// not even kAttnTileMinBlock keys fit.
uint32_t attention_tile_block(uint32_t shared, uint32_t head_dim, uint32_t v_head_dim);
// Workgroups that keep the device busy. Vulkan does not report compute units, so: a CPU device
// (lavapipe runs a workgroup per thread) its hardware threads; an integrated GPU 64; a discrete
// one 16 per GiB of device-local memory within [128, 1024] (larger boards have more units: 8 GiB
// -> 128, 24 GiB -> 384, 80 GiB and more -> 1024).
uint32_t attention_target_workgroups(const DeviceCaps& caps);
constexpr uint32_t kAttnMinSplitKeys = 64;
// Scratch bytes for the partials of `tokens` query tokens of `heads` heads in `splits` splits.
uint64_t attention_scratch_bytes(uint32_t heads, uint32_t v_head_dim, uint32_t tokens, uint32_t splits);

// o[t, h] = softmax_j(scale * q[t, h] . K[j, h / (heads / kv_heads)]) V[j, ...] over j <= pos + t
// (and j > pos + t - window, or j in its chunk); a sink s_h adds exp(s_h) to the softmax's denominator only.
// q rows are heads * head_dim wide, o rows heads * v_head_dim. `force` replaces
// choose_attention's choice (tests); `variant` names a variant of the chosen kernel.
void record_attention(Context& ctx, Sequence& seq, const KvCacheLayer& cache, const AttentionShape& s,
                      BufferRange q, BufferRange o, const std::string& variant = "",
                      const AttentionChoice* force = nullptr);

// ---- Elementwise ----
// b_stride value meaning "every row reads b's first row" (a bias added to every token).
constexpr uint32_t kEltBroadcast = 0xFFFFFFFFu;
struct EltShape {
  uint32_t rows = 0;
  uint32_t n = 0;         // elements per row
  uint32_t a_stride = 0;  // floats between rows (0 = n)
  uint32_t b_stride = 0;
  uint32_t y_stride = 0;
  // Floats before row 0 inside each range: binding offsets must be multiples of the device's
  // minStorageBufferOffsetAlignment, these need not be.
  uint32_t a_offset = 0, b_offset = 0, y_offset = 0;
};
// y may be a or b.
void record_add(Context& ctx, Sequence& seq, const EltShape& s, BufferRange a, BufferRange b, BufferRange y);
void record_mul(Context& ctx, Sequence& seq, const EltShape& s, BufferRange a, BufferRange b, BufferRange y);
// y = silu(a) * b (a = gate, b = up).
void record_silu_mul(Context& ctx, Sequence& seq, const EltShape& s, BufferRange a, BufferRange b,
                     BufferRange y);
void record_scale(Context& ctx, Sequence& seq, const EltShape& s, BufferRange a, BufferRange y, float factor);
// y = cap * tanh(a / cap) (cap > 0).
void record_softcap(Context& ctx, Sequence& seq, const EltShape& s, BufferRange a, BufferRange y, float cap);
// y = gelu(a) * b, gelu's tanh approximation (ggml's gelu).
void record_gelu_mul(Context& ctx, Sequence& seq, const EltShape& s, BufferRange a, BufferRange b, BufferRange y);

// ids[r] = index of the largest x[r, i] (uint32 [rows]); ties go to the lower index, NaN never
// wins, a row without a number above -inf gives its first -inf or 0.
struct ArgmaxShape {
  uint32_t rows = 0;
  uint32_t n = 0;       // values per row
  uint32_t stride = 0;  // floats between rows; 0 = n
};
void record_argmax(Context& ctx, Sequence& seq, const ArgmaxShape& s, BufferRange x, BufferRange ids);

}  // namespace vkmoe
