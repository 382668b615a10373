#include "runtime/kernels/transformer_ops.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <thread>

#include "runtime/kernels/op_util.h"
#include "runtime/vk/caps.h"
#include "runtime/vk/context.h"
#include "runtime/vk/sequence.h"
#include "shaders/ops_params.h"

namespace vkmoe {

void record_rms_norm(Context& ctx, Sequence& seq, const RmsNormShape& s, BufferRange x, BufferRange w,
                     BufferRange y, BufferRange residual, BufferRange sum, const std::string& variant,
                     BufferRange bias) {
  const char* k = "rms_norm";
  if (s.tokens == 0 || s.groups == 0 || s.n == 0) op_fail(k, "empty shape");
  const uint32_t xs = s.x_stride ? s.x_stride : s.groups * s.n, ys = s.y_stride ? s.y_stride : s.groups * s.n;
  if (xs < s.groups * s.n || ys < s.groups * s.n) op_fail(k, "row stride shorter than groups * n");
  if (sum.size && !residual.size) op_fail(k, "a sum output needs a residual input");
  const uint64_t xn = s.x_offset + row_extent(s.tokens, xs, s.groups * s.n), yn = row_extent(s.tokens, ys, s.groups * s.n);
  need_floats(k, "x", x, xn);
  need_floats(k, "w", w, s.n);
  need_floats(k, "y", y, yn);
  if (residual.size) need_floats(k, "residual", residual, xn);
  if (sum.size) need_floats(k, "sum", sum, xn);
  if (bias.size) need_floats(k, "bias", bias, s.n);
  const auto overlaps = [&](BufferRange a) {
    return a.size && a.buffer == y.buffer && a.offset < y.offset + y.size && y.offset < a.offset + a.size;
  };
  if (s.accumulate && (overlaps(x) || overlaps(residual) || overlaps(sum)))
    op_fail(k, "accumulating into y needs y apart from x, residual and sum");

  RmsNormParams p{s.tokens, s.groups, s.n, xs, ys, 0, s.eps, s.x_offset};
  p.flags = (residual.size ? RMS_RESIDUAL : 0) | (sum.size ? RMS_WRITE_SUM : 0) | (s.center ? RMS_CENTER : 0) |
            (bias.size ? RMS_BIAS : 0) | (s.accumulate ? RMS_ACCUMULATE : 0);
  const auto& pipe = ctx.pipelines().get(
      {.kernel = "rms_norm", .bindings = 6, .push_size = sizeof(p), .variant = variant});
  const BufferRange dummy = ctx.dummy().range();
  const auto g = grid_2d(ctx, uint64_t(s.tokens) * s.groups);
  Binding b[6] = {{x, Access::read},
                  {residual.size ? residual : dummy, Access::read},
                  {w, Access::read},
                  {y, s.accumulate ? Access::read_write : Access::write},
                  {sum.size ? sum : ctx.sink().range(), Access::write},
                  {bias.size ? bias : dummy, Access::read}};
  seq.dispatch(pipe, b, &p, g[0], g[1], 1, "rms_norm");
}

double yarn_rope_magnitude(double freq_scale) { return 1.0 + 0.1 * std::log(1.0 / freq_scale); }

std::array<float, 2> rope_yarn_corr_dims(uint32_t n_rot, uint32_t n_ctx_orig, float freq_base, float beta_fast,
                                         float beta_slow) {
  // The pair index whose wavelength fits `rotations` times into the original context.
  auto corr_dim = [&](float rotations) {
    return float(n_rot) * std::log(float(n_ctx_orig) / (rotations * 2.0f * std::numbers::pi_v<float>)) /
           (2.0f * std::log(freq_base));
  };
  const float start = std::floor(corr_dim(beta_fast)), end = std::ceil(corr_dim(beta_slow));
  return {std::max(0.0f, start), std::min(float(n_rot) - 1.0f, end)};
}

namespace {

// n_rot = 0 (no rotation: llama4's NoPE layers) only where allow_none.
void check_rope(const char* k, const RopeConfig& cfg, bool allow_none = false) {
  if (cfg.head_dim % 2 || cfg.n_rot % 2 || cfg.rot_offset % 2 || (cfg.n_rot == 0 && !allow_none) ||
      uint64_t(cfg.rot_offset) + cfg.n_rot > cfg.head_dim)
    op_fail(k, "n_rot " + std::to_string(cfg.n_rot) + ", rot_offset " + std::to_string(cfg.rot_offset) +
                   " and head_dim " + std::to_string(cfg.head_dim) +
                   " must be even with 0 < n_rot and rot_offset + n_rot <= head_dim");
  if (cfg.ext_factor != 0.0f && cfg.n_ctx_orig == 0) op_fail(k, "YaRN (ext_factor != 0) needs n_ctx_orig");
  if (!(cfg.freq_base > 1.0f) || !(cfg.freq_scale > 0.0f)) op_fail(k, "freq_base must be > 1 and freq_scale > 0");
}

// The angle parameters both RoPE kernels take: log2 base, scale, YaRN mix, magnitude, ramp.
struct RopeAngles {
  float log2_base, freq_scale, ext_factor, mscale, corr_low = 0, corr_high = 0;
};
RopeAngles rope_angles(const RopeConfig& cfg) {
  RopeAngles a{static_cast<float>(std::log2(static_cast<double>(cfg.freq_base))), cfg.freq_scale, cfg.ext_factor,
               cfg.attn_factor};
  if (cfg.ext_factor != 0.0f) {
    a.mscale *= static_cast<float>(yarn_rope_magnitude(cfg.freq_scale));
    const auto corr = rope_yarn_corr_dims(cfg.n_rot, cfg.n_ctx_orig, cfg.freq_base, cfg.beta_fast, cfg.beta_slow);
    a.corr_low = corr[0];
    a.corr_high = corr[1];
  }
  return a;
}

// Fills the ROPE_ANGLE_FIELDS of a params block.
template <typename Params>
void put_angles(Params& p, const RopeConfig& cfg) {
  const RopeAngles a = rope_angles(cfg);
  p.log2_base = a.log2_base, p.freq_scale = a.freq_scale, p.ext_factor = a.ext_factor, p.mscale = a.mscale;
  p.corr_low = a.corr_low, p.corr_high = a.corr_high;
}

}  // namespace

void record_rope(Context& ctx, Sequence& seq, const RopeConfig& cfg, const RopeShape& s, BufferRange x,
                 BufferRange positions, BufferRange y, BufferRange freq_factors) {
  const char* k = "rope";
  const uint32_t tokens = s.tokens, heads = s.heads, x_stride = s.x_stride, y_stride = s.y_stride;
  if (tokens == 0 || heads == 0 || cfg.head_dim == 0) op_fail(k, "empty shape");
  check_rope(k, cfg);
  const uint32_t row = heads * cfg.head_dim;
  const uint32_t xs = x_stride ? x_stride : row, ys = y_stride ? y_stride : row;
  if (xs < row || ys < row) op_fail(k, "row stride shorter than heads * head_dim");
  need_floats(k, "x", x, row_extent(tokens, xs, row));
  need_floats(k, "y", y, row_extent(tokens, ys, row));
  need_floats(k, "positions", positions, tokens);
  if (freq_factors.size) need_floats(k, "freq_factors", freq_factors, cfg.n_rot / 2);

  RopeParams p{};
  put_angles(p, cfg);
  p.tokens = tokens;
  p.heads = heads;
  p.head_dim = cfg.head_dim;
  p.n_rot = cfg.n_rot;
  p.x_stride = xs;
  p.y_stride = ys;
  p.flags = (cfg.neox ? ROPE_NEOX : 0) | (freq_factors.size ? ROPE_FREQ_FACTORS : 0);
  p.rot_offset = cfg.rot_offset;
  const auto& pipe = ctx.pipelines().get({.kernel = "rope", .bindings = 4, .push_size = sizeof(p)});
  const BufferRange dummy = ctx.dummy().range();
  Binding b[4] = {{x, Access::read},
                  {positions, Access::read},
                  {freq_factors.size ? freq_factors : dummy, Access::read},
                  {y, Access::write}};
  seq.dispatch(pipe, b, &p, ceil_div(heads * (cfg.head_dim / 2), ROPE_WG), tokens, 1, "rope");
}

uint64_t kv_cache_bytes(uint32_t n_ctx, uint32_t kv_heads, uint32_t head_dim) {
  return uint64_t(n_ctx) * kv_heads * head_dim * 2;
}

static void check_cache(const char* k, const KvCacheLayer& c) {
  if (c.n_ctx == 0 || c.kv_heads == 0 || c.head_dim == 0) op_fail(k, "empty cache shape");
  if (c.head_dim % 2 || c.dv() % 2)
    op_fail(k, "head widths " + std::to_string(c.head_dim) + " / " + std::to_string(c.dv()) +
                   ": one is odd; the f16 cache packs pairs");
  if (c.ring > c.n_ctx) op_fail(k, "a ring of " + std::to_string(c.ring) + " rows for a context of " + std::to_string(c.n_ctx));
  const uint64_t k_bytes = kv_cache_bytes(c.rows(), c.kv_heads, c.head_dim), v_bytes = kv_cache_bytes(c.rows(), c.kv_heads, c.dv());
  if (c.k.size < k_bytes || c.v.size < v_bytes)
    op_fail(k, "cache ranges of " + std::to_string(c.k.size) + " / " + std::to_string(c.v.size) +
                   " bytes; rows * kv_heads * head width halves need " + std::to_string(k_bytes) + " / " +
                   std::to_string(v_bytes));
}

void record_kv_store(Context& ctx, Sequence& seq, const KvCacheLayer& cache, const KvStoreShape& s, BufferRange k,
                     BufferRange v, BufferRange positions) {
  const char* kn = "kv_store";
  const uint32_t tokens = s.tokens, k_stride = s.k_stride, v_stride = s.v_stride;
  check_cache(kn, cache);
  if (cache.ring) op_fail(kn, "a ring cache is stored by rope_kv_store only");
  if (tokens == 0) op_fail(kn, "no tokens");
  const uint32_t k_row = cache.kv_heads * cache.head_dim, v_row = cache.kv_heads * cache.dv();
  const uint32_t ks = k_stride ? k_stride : k_row, vs = v_stride ? v_stride : v_row;
  if (ks < k_row || vs < v_row) op_fail(kn, "row stride shorter than kv_heads * head width");
  need_floats(kn, "k", k, row_extent(tokens, ks, k_row));
  need_floats(kn, "v", v, row_extent(tokens, vs, v_row));
  need_floats(kn, "positions", positions, tokens);
  KvStoreParams p{tokens, cache.kv_heads, cache.head_dim, ks, vs, cache.n_ctx, cache.dv(), 0};
  const auto& pipe = ctx.pipelines().get({.kernel = "kv_store", .bindings = 5, .push_size = sizeof(p)});
  Binding b[5] = {{k, Access::read},
                  {v, Access::read},
                  {positions, Access::read},
                  {cache.k, Access::write},
                  {cache.v, Access::write}};
  seq.dispatch(pipe, b, &p, ceil_div(std::max(k_row, v_row) / 2, KV_STORE_WG), tokens, 1, "kv_store");
}

void record_rope_kv_store(Context& ctx, Sequence& seq, const KvCacheLayer& cache, const RopeConfig& rope,
                          const RopeKvShape& s, BufferRange q, BufferRange k, BufferRange v, BufferRange positions,
                          BufferRange bias, BufferRange norm, BufferRange q_out, const std::string& variant) {
  const char* kn = "rope_kv_store";
  check_cache(kn, cache);
  check_rope(kn, rope, /*allow_none=*/true);
  if (rope.n_rot == 0 && rope.ext_factor != 0.0f) op_fail(kn, "YaRN without rotated dims");
  if (s.unit_norm && s.norm != QkNorm::per_head) op_fail(kn, "unit_norm is a per-head QK-norm");
  const uint32_t D = cache.head_dim, Dv = cache.dv(), NKV = cache.kv_heads;
  if (s.tokens == 0 || s.heads == 0) op_fail(kn, "empty shape");
  if (rope.head_dim != D) op_fail(kn, "RoPE head_dim " + std::to_string(rope.head_dim) + " != cache head_dim " + std::to_string(D));
  if (s.heads % NKV)
    op_fail(kn, std::to_string(s.heads) + " query heads are not a multiple of " + std::to_string(NKV) + " KV heads");
  if (s.tokens > ctx.device().caps().max_workgroup_count[1]) op_fail(kn, "more tokens than workgroups in y");
  const uint32_t q_row = s.heads * D, k_row = NKV * D, v_row = NKV * Dv;
  const uint32_t qs = s.q_stride ? s.q_stride : q_row, ks = s.k_stride ? s.k_stride : k_row,
                 vs = s.v_stride ? s.v_stride : v_row;
  if (qs < q_row || ks < k_row || vs < v_row) op_fail(kn, "row stride shorter than heads * head width");
  need_floats(kn, "q", q, s.q_offset + row_extent(s.tokens, qs, q_row));
  need_floats(kn, "k", k, s.k_offset + row_extent(s.tokens, ks, k_row));
  need_floats(kn, "v", v, s.v_offset + row_extent(s.tokens, vs, v_row));
  need_floats(kn, "positions", positions, s.tokens);
  need_floats(kn, "q_out", q_out, uint64_t(s.tokens) * q_row);
  if (bias.size) need_floats(kn, "bias", bias, uint64_t(q_row) + k_row + v_row);
  const bool full = s.norm == QkNorm::full;
  const uint32_t qn = full ? q_row : D, kn_len = full ? k_row : D;
  const bool weighted = s.norm != QkNorm::none && !s.unit_norm;
  if (weighted) need_floats(kn, "norm", norm, uint64_t(qn) + kn_len);
  if (s.freq_factors.size) need_floats(kn, "freq_factors", s.freq_factors, rope.n_rot / 2);

  RopeKvParams p{};
  put_angles(p, rope);
  p.tokens = s.tokens;
  p.heads = s.heads;
  p.kv_heads = NKV;
  p.head_dim = D;
  p.v_dim = Dv;
  p.n_rot = rope.n_rot;
  p.rot_offset = rope.rot_offset;
  p.flags = (rope.neox ? RKV_NEOX : 0) | (bias.size ? RKV_BIAS : 0) |
            (s.norm == QkNorm::per_head ? RKV_NORM_HEAD : full ? RKV_NORM_FULL : 0) | (s.unit_norm ? RKV_NORM_UNIT : 0) |
            (s.norm != QkNorm::none && s.norm_after_rope ? RKV_NORM_AFTER_ROPE : 0) | (s.clamp > 0 ? RKV_CLAMP : 0) |
            (s.temp_floor ? RKV_Q_TEMP : 0) | (s.freq_factors.size ? RKV_FREQ_FACTORS : 0);
  p.clamp_kqv = s.clamp;
  p.temp_scale = s.temp_scale, p.temp_offset = s.temp_offset, p.temp_floor = static_cast<float>(s.temp_floor);
  p.q_stride = qs, p.k_stride = ks, p.v_stride = vs;
  p.q_offset = s.q_offset, p.k_offset = s.k_offset, p.v_offset = s.v_offset;
  p.bk_offset = q_row, p.bv_offset = q_row + k_row;
  p.kn_offset = qn;
  p.n_ctx = cache.n_ctx;
  p.ring = cache.ring;
  p.eps = s.eps;
  const auto& pipe = ctx.pipelines().get({.kernel = kn, .bindings = 10, .push_size = sizeof(p), .variant = variant});
  const BufferRange dummy = ctx.dummy().range();
  Binding b[10] = {{q, Access::read},
                  {k, Access::read},
                  {v, Access::read},
                  {positions, Access::read},
                  {bias.size ? bias : dummy, Access::read},
                  {weighted ? norm : dummy, Access::read},
                  {q_out, Access::write},
                  {cache.k, Access::write},
                  {cache.v, Access::write},
                  {s.freq_factors.size ? s.freq_factors : dummy, Access::read}};
  const uint32_t items = (full ? 2 : s.heads + NKV) + NKV;
  seq.dispatch(pipe, b, &p, items, s.tokens, 1, kn);
}

namespace {

void mla_store(Context& ctx, Sequence& seq, const KvCacheLayer& cache, const MlaKvShape& s, MlaKvParams p,
               BufferRange kv, BufferRange k_pe, BufferRange positions, BufferRange q, BufferRange q_out) {
  const char* kn = (p.flags & MLA_ROPE) ? "mla_rope_kv_store" : "mla_kv_store";
  check_cache(kn, cache);
  if (cache.ring) op_fail(kn, "a ring cache is stored by rope_kv_store only");
  if (s.tokens == 0) op_fail(kn, "no tokens");
  if (s.nope % 2 || s.nope >= cache.head_dim)
    op_fail(kn, "nope " + std::to_string(s.nope) + " must be even and below head_dim " + std::to_string(cache.head_dim));
  const uint32_t rope = cache.head_dim - s.nope, dv = cache.dv();
  const uint32_t kv_row = cache.kv_heads * (s.nope + dv);
  const uint32_t kvs = s.kv_stride ? s.kv_stride : kv_row, pes = s.pe_stride ? s.pe_stride : rope;
  if (kvs < kv_row || pes < rope) op_fail(kn, "row stride shorter than a kv or k_pe row");
  need_floats(kn, "kv", kv, row_extent(s.tokens, kvs, kv_row));
  need_floats(kn, "k_pe", k_pe, s.pe_offset + row_extent(s.tokens, pes, rope));
  need_floats(kn, "positions", positions, s.tokens);
  p.tokens = s.tokens, p.heads = cache.kv_heads, p.nope = s.nope, p.n_rot = rope, p.dv = dv;
  p.kv_stride = kvs, p.pe_stride = pes, p.pe_offset = s.pe_offset, p.n_ctx = cache.n_ctx;
  const auto& pipe = ctx.pipelines().get({.kernel = "mla_kv_store", .bindings = 7, .push_size = sizeof(p)});
  const bool rope_q = (p.flags & MLA_ROPE) != 0;
  Binding b[7] = {{kv, Access::read},
                  {k_pe, Access::read},
                  {positions, Access::read},
                  {cache.k, Access::write},
                  {cache.v, Access::write},
                  {rope_q ? q : ctx.dummy().range(), Access::read},
                  {rope_q ? q_out : ctx.sink().range(), Access::write}};
  const uint32_t words = cache.kv_heads * std::max(cache.head_dim, dv) / 2;
  seq.dispatch(pipe, b, &p, ceil_div(words, KV_STORE_WG), s.tokens, 1, kn);
}

}  // namespace

void record_mla_kv_store(Context& ctx, Sequence& seq, const KvCacheLayer& cache, const MlaKvShape& s,
                         BufferRange kv, BufferRange k_pe, BufferRange positions) {
  mla_store(ctx, seq, cache, s, MlaKvParams{}, kv, k_pe, positions, {}, {});
}

void record_mla_rope_kv_store(Context& ctx, Sequence& seq, const KvCacheLayer& cache, const MlaKvShape& s,
                              const RopeConfig& rope, BufferRange kv, BufferRange k_pe, BufferRange positions,
                              BufferRange q, uint32_t q_stride, uint32_t q_offset, BufferRange q_out) {
  const char* kn = "mla_rope_kv_store";
  check_rope(kn, rope);
  if (rope.neox) op_fail(kn, "only the normal RoPE layout (pairs 2i, 2i + 1) is fused with the store");
  if (rope.head_dim != cache.head_dim || rope.rot_offset != s.nope || rope.n_rot != cache.head_dim - s.nope)
    op_fail(kn, "RoPE must rotate the last head_dim - nope dims of each head");
  const uint32_t q_row = cache.kv_heads * cache.head_dim, qs = q_stride ? q_stride : q_row;
  if (qs < q_row) op_fail(kn, "q row stride shorter than heads * head_dim");
  need_floats(kn, "q", q, q_offset + row_extent(std::max(1u, s.tokens), qs, q_row));
  need_floats(kn, "q_out", q_out, uint64_t(std::max(1u, s.tokens)) * q_row);
  MlaKvParams p{};
  put_angles(p, rope);
  p.flags = MLA_ROPE;
  p.q_stride = qs, p.q_offset = q_offset;
  mla_store(ctx, seq, cache, s, p, kv, k_pe, positions, q, q_out);
}

uint32_t attention_target_workgroups(const DeviceCaps& caps) {
  switch (caps.type) {
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return std::max(1u, std::thread::hardware_concurrency());
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: {
      const uint64_t gib = caps.device_local_bytes() >> 30;
      return static_cast<uint32_t>(std::clamp<uint64_t>(16 * gib, 128, 1024));
    }
    default: return 64;
  }
}

uint64_t attention_scratch_bytes(uint32_t heads, uint32_t v_head_dim, uint32_t tokens, uint32_t splits) {
  return uint64_t(tokens) * heads * splits * (2ull + v_head_dim) * 4;
}

namespace {

// Shared memory of attention_decode.comp.glsl besides its scores (GROUP x block floats).
constexpr uint32_t kDecodeFixedShared = ATTN_DECODE_GROUP * ATTN_MAX_HEAD_DIM * 4  // queries
                                        + ATTN_DECODE_GROUP * ATTN_DECODE_WG * 4   // block max
                                        + 2 * ATTN_DECODE_WG * 16 + ATTN_DECODE_WG * 4  // key slices
                                        + 2 * ATTN_DECODE_GROUP * 4 + 256;            // m, alpha, margin

// Keys per block: the largest power of two whose scores fit beside the rest, 32 .. 1024.
uint32_t decode_block(const DeviceCaps& caps) {
  const uint32_t room = caps.max_shared_memory > kDecodeFixedShared ? caps.max_shared_memory - kDecodeFixedShared : 0;
  uint32_t b = 32;
  while (b < 1024 && 2 * b * ATTN_DECODE_GROUP * 4 <= room) b *= 2;
  return b;
}

// Keys the query that sees the most of them sees.
uint32_t max_keys(const AttentionShape& s) {
  const uint32_t len = s.pos + s.tokens;
  return s.window ? std::min(len, s.window) : len;
}

}  // namespace

uint32_t attention_tile_shared(uint32_t head_dim, uint32_t v_head_dim, uint32_t block) {
  const uint32_t d4 = (head_dim + 3) / 4, v4 = (v_head_dim + 3) / 4;
  return ATTN_TILE_ROWS * d4 * 16        // queries (vec4)
         + block * (d4 + v4) * 8         // K and V (4 halves a slot)
         + ATTN_TILE_ROWS * block * 4    // scores
         + 3 * ATTN_TILE_ROWS * 4;       // m, l, alpha
}

uint32_t attention_tile_block(uint32_t shared, uint32_t head_dim, uint32_t v_head_dim) {
  constexpr uint32_t margin = 256;  // what a compiler may add
  uint32_t b = 0;
  for (uint32_t c = kAttnTileMinBlock; c <= kAttnTileMaxBlock; c *= 2)
    if (attention_tile_shared(head_dim, v_head_dim, c) + margin <= shared) b = c;
  return b;
}

AttentionChoice choose_attention(const DeviceCaps& caps, const KvCacheLayer& cache, const AttentionShape& s) {
  AttentionChoice c;
  if (cache.kv_heads == 0 || s.heads % cache.kv_heads) return c;
  const uint32_t ratio = s.heads / cache.kv_heads;
  while (c.group * 2 <= ATTN_DECODE_GROUP && ratio % (c.group * 2) == 0) c.group *= 2;
  if (s.tokens >= kAttnTileMinTokens) {
    const uint32_t block = attention_tile_block(caps.max_shared_memory, cache.head_dim, cache.dv());
    const uint32_t tile_tokens = ATTN_TILE_ROWS / c.group;
    const uint64_t tiles = uint64_t(s.heads / c.group) * ((s.tokens + tile_tokens - 1) / tile_tokens);
    // No key split in the tile kernel: a grid too small for the device keeps the split decode kernel.
    if (block && 4 * tiles >= attention_target_workgroups(caps)) {
      c.kernel = AttentionKernel::tile, c.block = block;
      return c;
    }
  }
  c.kernel = AttentionKernel::decode;
  c.block = decode_block(caps);
  const uint64_t groups = uint64_t(s.tokens) * (s.heads / c.group);
  const uint64_t want = (attention_target_workgroups(caps) + groups - 1) / groups;
  const uint64_t per_split = attention_scratch_bytes(s.heads, cache.dv(), s.tokens, 1);
  const uint64_t room = per_split ? s.scratch.size / per_split : 0;
  const uint64_t by_keys = (max_keys(s) + kAttnMinSplitKeys - 1) / kAttnMinSplitKeys;
  c.splits = static_cast<uint32_t>(std::max<uint64_t>(1, std::min({want, by_keys, room, uint64_t(ATTN_MAX_SPLITS)})));
  return c;
}

static void check_attention(const char* k, const KvCacheLayer& cache, const AttentionShape& s, BufferRange q,
                            BufferRange o, uint32_t qs, uint32_t os) {
  check_cache(k, cache);
  if (s.tokens == 0 || s.heads == 0) op_fail(k, "empty shape");
  if (s.heads % cache.kv_heads)
    op_fail(k, std::to_string(s.heads) + " query heads are not a multiple of " + std::to_string(cache.kv_heads) +
                   " KV heads");
  if (cache.head_dim > ATTN_MAX_HEAD_DIM || cache.dv() > ATTN_MAX_HEAD_DIM)
    op_fail(k, "head widths " + std::to_string(cache.head_dim) + " / " + std::to_string(cache.dv()) + ": above " +
                   std::to_string(ATTN_MAX_HEAD_DIM));
  if (uint64_t(s.pos) + s.tokens > cache.n_ctx)
    op_fail(k, "positions up to " + std::to_string(s.pos + s.tokens) + " exceed n_ctx " + std::to_string(cache.n_ctx));
  const uint32_t q_row = s.heads * cache.head_dim, o_row = s.heads * cache.dv();
  if (qs < q_row || os < o_row) op_fail(k, "row stride shorter than heads * head width");
  need_floats(k, "q", q, row_extent(s.tokens, qs, q_row));
  need_floats(k, "o", o, row_extent(s.tokens, os, o_row));
  if (s.sinks.size) need_floats(k, "sinks", s.sinks, s.heads);
  if (s.chunked && !s.window) op_fail(k, "chunked attention needs a chunk (window) size");
  // A ring holds the window before the first query and the batch: nothing needed is overwritten.
  if (cache.ring && (!s.window || uint64_t(cache.ring) < uint64_t(s.window) + s.tokens - 1))
    op_fail(k, "a ring of " + std::to_string(cache.ring) + " rows cannot serve " + std::to_string(s.tokens) +
                   " queries over a window of " + std::to_string(s.window));
}

static void check_choice(const char* k, const KvCacheLayer& cache, const AttentionShape& s, const AttentionChoice& c,
                         uint32_t shared) {
  if (c.kernel == AttentionKernel::prefill) return;
  const uint32_t ratio = s.heads / cache.kv_heads;
  if (c.group == 0 || c.group > ATTN_DECODE_GROUP || ratio % c.group)
    op_fail(k, "a decode group of " + std::to_string(c.group) + " heads for " + std::to_string(ratio) +
                   " query heads per KV head");
  if (c.kernel == AttentionKernel::tile) {
    if (c.block < kAttnTileMinBlock || c.block > kAttnTileMaxBlock || (c.block & (c.block - 1)))
      op_fail(k, "a tile block of " + std::to_string(c.block) + " keys");
    const uint32_t need = attention_tile_shared(cache.head_dim, cache.dv(), c.block);
    if (need > shared)
      op_fail(k, "a tile block of " + std::to_string(c.block) + " keys needs " + std::to_string(need) +
                     " bytes of shared memory; the device has " + std::to_string(shared));
    return;
  }
  if (c.splits == 0 || c.splits > ATTN_MAX_SPLITS) op_fail(k, std::to_string(c.splits) + " key splits");
  if (c.splits > 1) need_bytes(k, "scratch", s.scratch, attention_scratch_bytes(s.heads, cache.dv(), s.tokens, c.splits));
  if (c.block < 32 || c.block > 1024) op_fail(k, "a block of " + std::to_string(c.block) + " keys");
}

void record_attention(Context& ctx, Sequence& seq, const KvCacheLayer& cache, const AttentionShape& s,
                      BufferRange q, BufferRange o, const std::string& variant, const AttentionChoice* force) {
  const char* k = "attention";
  const uint32_t qs = s.q_stride ? s.q_stride : s.heads * cache.head_dim;
  const uint32_t os = s.o_stride ? s.o_stride : s.heads * cache.dv();
  check_attention(k, cache, s, q, o, qs, os);
  const AttentionChoice c = force ? *force : choose_attention(ctx.device().caps(), cache, s);
  check_choice(k, cache, s, c, ctx.device().caps().max_shared_memory);
  const bool sinks = s.sinks.size > 0;
  AttnParams p{s.tokens, s.pos, s.heads, cache.kv_heads, cache.head_dim, qs, os,
               s.scale != 0.0f ? s.scale : 1.0f / std::sqrt(float(cache.head_dim)), cache.dv(), s.window,
               (sinks ? ATTN_SINKS : 0u) | (s.chunked ? ATTN_CHUNKED : 0u) | (s.softcap > 0 ? ATTN_SOFTCAP : 0u), cache.ring,
               s.softcap, c.splits};
  const BufferRange sink_b = sinks ? s.sinks : ctx.dummy().range();
  if (c.kernel == AttentionKernel::prefill) {
    const auto& pipe = ctx.pipelines().get(
        {.kernel = "attention", .bindings = 5, .push_size = sizeof(p), .variant = variant});
    Binding b[5] = {{q, Access::read}, {cache.k, Access::read}, {cache.v, Access::read}, {o, Access::write},
                    {sink_b, Access::read}};
    seq.dispatch(pipe, b, &p, s.heads, s.tokens, 1, "attention");
    return;
  }
  if (c.kernel == AttentionKernel::tile) {
    const auto& pipe = ctx.pipelines().get(
        {.kernel = "attention_tile", .bindings = 5, .push_size = sizeof(p),
         .spec = {c.group, c.block, (cache.head_dim + 3) / 4, (cache.dv() + 3) / 4}, .variant = variant});
    Binding b[5] = {{q, Access::read}, {cache.k, Access::read}, {cache.v, Access::read}, {o, Access::write},
                    {sink_b, Access::read}};
    const uint32_t tile_tokens = ATTN_TILE_ROWS / c.group;
    seq.dispatch(pipe, b, &p, s.heads / c.group, (s.tokens + tile_tokens - 1) / tile_tokens, 1, "attention_tile");
    return;
  }
  // uvec4 loads of K and V: 8-half units and 16-byte aligned bindings.
  const bool vec4 = cache.head_dim % 8 == 0 && cache.dv() % 8 == 0 && cache.k.offset % 16 == 0 && cache.v.offset % 16 == 0;
  const auto& pipe = ctx.pipelines().get({.kernel = "attention_decode", .bindings = 6, .push_size = sizeof(p),
                                          .spec = {c.group, c.block, vec4 ? 1u : 0u}, .variant = variant});
  const bool split = c.splits > 1;
  const BufferRange part = split ? BufferRange{s.scratch.buffer, s.scratch.offset,
                                               attention_scratch_bytes(s.heads, cache.dv(), s.tokens, c.splits)}
                                 : ctx.sink().range();
  Binding b[6] = {{q, Access::read},  {cache.k, Access::read}, {cache.v, Access::read},
                  {split ? ctx.sink().range() : o, Access::write}, {sink_b, Access::read}, {part, Access::write}};
  seq.dispatch(pipe, b, &p, s.heads / c.group, c.splits, s.tokens, "attention_decode");
  if (!split) return;
  const auto& comb = ctx.pipelines().get({.kernel = "attention_combine", .bindings = 3, .push_size = sizeof(p)});
  Binding bc[3] = {{part, Access::read}, {o, Access::write}, {sink_b, Access::read}};
  seq.dispatch(comb, bc, &p, s.heads, s.tokens, 1, "attention_combine");
}

static void record_eltwise(Context& ctx, Sequence& seq, const EltShape& s, BufferRange a, BufferRange b,
                           BufferRange y, uint32_t op, float factor, const char* name) {
  if (s.rows == 0 || s.n == 0) op_fail(name, "empty shape");
  const bool broadcast = s.b_stride == kEltBroadcast;
  const uint32_t as = s.a_stride ? s.a_stride : s.n, bs = broadcast ? 0 : s.b_stride ? s.b_stride : s.n,
                 ys = s.y_stride ? s.y_stride : s.n;
  if (as < s.n || (bs < s.n && !broadcast) || ys < s.n) op_fail(name, "row stride shorter than n");
  need_floats(name, "a", a, s.a_offset + row_extent(s.rows, as, s.n));
  const bool unary = op == ELT_SCALE || op == ELT_SOFTCAP;  // b unused
  if (!unary) need_floats(name, "b", b, s.b_offset + (broadcast ? s.n : row_extent(s.rows, bs, s.n)));
  need_floats(name, "y", y, s.y_offset + row_extent(s.rows, ys, s.n));
  EltParams p{s.rows, s.n, as, bs, ys, op, factor, s.a_offset, s.b_offset, s.y_offset, 0, 0};
  const auto& pipe = ctx.pipelines().get({.kernel = "eltwise", .bindings = 3, .push_size = sizeof(p)});
  Binding bd[3] = {{a, Access::read}, {unary ? ctx.dummy().range() : b, Access::read}, {y, Access::write}};
  seq.dispatch(pipe, bd, &p, ceil_div(s.n, ELTWISE_WG), s.rows, 1, name);
}

void record_add(Context& ctx, Sequence& seq, const EltShape& s, BufferRange a, BufferRange b, BufferRange y) {
  record_eltwise(ctx, seq, s, a, b, y, ELT_ADD, 0.0f, "add");
}
void record_mul(Context& ctx, Sequence& seq, const EltShape& s, BufferRange a, BufferRange b, BufferRange y) {
  record_eltwise(ctx, seq, s, a, b, y, ELT_MUL, 0.0f, "mul");
}
void record_silu_mul(Context& ctx, Sequence& seq, const EltShape& s, BufferRange a, BufferRange b,
                     BufferRange y) {
  record_eltwise(ctx, seq, s, a, b, y, ELT_SILU_MUL, 0.0f, "silu_mul");
}
void record_scale(Context& ctx, Sequence& seq, const EltShape& s, BufferRange a, BufferRange y, float factor) {
  record_eltwise(ctx, seq, s, a, {}, y, ELT_SCALE, factor, "scale");
}
void record_softcap(Context& ctx, Sequence& seq, const EltShape& s, BufferRange a, BufferRange y, float cap) {
  if (!(cap > 0)) op_fail("softcap", "the cap must be > 0");
  record_eltwise(ctx, seq, s, a, {}, y, ELT_SOFTCAP, cap, "softcap");
}
void record_gelu_mul(Context& ctx, Sequence& seq, const EltShape& s, BufferRange a, BufferRange b, BufferRange y) {
  record_eltwise(ctx, seq, s, a, b, y, ELT_GELU_MUL, 0.0f, "gelu_mul");
}

void record_argmax(Context& ctx, Sequence& seq, const ArgmaxShape& s, BufferRange x, BufferRange ids) {
  const char* k = "argmax";
  const uint32_t rows = s.rows, n = s.n, stride = s.stride;
  if (rows == 0 || n == 0) op_fail(k, "empty shape");
  const uint32_t xs = stride ? stride : n;
  if (xs < n) op_fail(k, "row stride shorter than n");
  need_floats(k, "x", x, row_extent(rows, xs, n));
  need_floats(k, "ids", ids, rows);
  ArgmaxParams p{rows, n, xs, 0};
  const auto& pipe = ctx.pipelines().get({.kernel = "argmax", .bindings = 2, .push_size = sizeof(p)});
  const auto g = grid_2d(ctx, rows);
  seq.dispatch(pipe, {{x, Access::read}, {ids, Access::write}}, &p, g[0], g[1], 1, "argmax");
}

}  // namespace vkmoe
