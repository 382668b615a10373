// The vector operations the reference blocks share, in double precision on dequantized weights:
// the model-level counterparts of ops_ref.h's kernel references.
#pragma once
#include <cstdint>

#include "runtime/reference/ref_weights.h"

namespace vkmoe {

struct ModelConfig;

namespace ref {

// y = W x over rows [row0, row0 + n) of W (all rows from row0 by default).
Vec matvec(const Mat& m, const Vec& x, uint64_t row0 = 0, uint64_t n = UINT64_MAX);
// y += b (nothing when b is null).
void add_bias(Vec& y, const Mat* b);
void scale_by(Vec& y, double s);
// RMSNorm over consecutive groups of `group` elements (0: the whole vector), each with weight w.
void rms_norm(Vec& x, const Mat& w, double eps, size_t group = 0);
double silu(double v);
// RoPE on dims [offset, offset + n_rot) of each of `heads` heads of x, as ggml's rope_ext
// computes it for the config (layout, base, linear or YaRN scaling); cos/sin scaled by
// rope_magnitude (runtime/model/rope_scaling.h; mla: DeepSeek's). freq_factors: the per-pair
// divisors of the angle (rope_freqs or LongRoPE's), or null.
void rope(Vec& x, uint32_t heads, uint32_t head_dim, uint32_t pos, const ModelConfig& c, uint32_t offset = 0,
          bool mla = false, const Mat* freq_factors = nullptr);

}  // namespace ref
}  // namespace vkmoe
