// Pieces shared by the MoE expert kernels: which expert a slot has, where a weight row starts.
// Needs moe_params.h (USE_MOE_PARAMS); a kernel that reads the router's ids defines MOE_IDS
// and declares them as `uint ids[]`.

const uint EMPTY = MOE_EMPTY_SLOT;

#ifdef MOE_IDS
// Expert of global slot s (token_base * k already added), or EMPTY.
uint expert_of(uint s) {
  if ((p.flags & MOE_FIXED_EXPERT) != 0) return 0;
  const uint e = ids[s];
  return e < p.experts ? e : EMPTY;
}
#endif

// Byte offset of row `row` of expert e in its piece's binding; also returns the piece.
uint row_start(uint e, uint row, uint tensor, out uint piece) {
  piece = e / p.experts_per_piece;
  const uint local = e - piece * p.experts_per_piece;
  const uint base = tensor == 0 ? p.base_a[piece] : p.base_b[piece];
  return base + (local * p.rows + row) * p.row_bytes;
}

float silu(float g) { return g / (1.0 + exp(-g)); }

// The gated activation between gate/up and down: silu(g) * u, gpt-oss's clamped SwiGLU
// (llama.cpp's swiglu_oai) with MOE_SWIGLU_OAI, or gelu(g) * u with MOE_GELU.
float glu(float g, float u) {
  if ((p.flags & MOE_SWIGLU_OAI) != 0) {
    const float x = min(g, p.act_limit), y = clamp(u, -p.act_limit, p.act_limit);
    return x / (1.0 + exp(-p.act_alpha * x)) * (y + 1.0);
  }
  if ((p.flags & MOE_GELU) != 0) return 0.5 * g * (1.0 + tanh(0.7978845608028654 * g * (1.0 + 0.044715 * g * g))) * u;
  return silu(g) * u;
}
