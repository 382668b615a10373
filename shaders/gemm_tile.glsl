// Pieces of the register-tiled GEMMs (matmul.comp.glsl GEMM=1, moe_gemm.comp.glsl). The
// includer declares the input rows as `float x[]` and `vec4 x4[]` (one binding), the
// specialization constant X_VEC4 (every input row 4-aligned), defines GT (tokens or slots
// per tile) and NW (weight rows per invocation), includes dequant.glsl, and defines after the
// include
//   void tile_weights(uint c, out float w[NW][TILE_K]): step c of its NW weight rows (tile_row);
//   void tile_scale_input(uint c, uint j, inout float v[TILE_K]): input j's step prologue (or nothing).
// A step is 8 columns dequantized by dequant8, the per-type hook: any TYPE dequant8 knows runs
// in the GEMMs. (dequant_unit.glsl's whole units, 32-64 columns, were tried here: unrolled over
// 4 rows and 8 tokens, lavapipe's prefill ran 8x slower; docs/performance.md.)
#define TILE_K 8
void tile_weights(uint c, out float w[NW][TILE_K]);
void tile_scale_input(uint c, uint j, inout float v[TILE_K]);

// Step c of the weight row at byte `start` of piece `piece` of tensor t, dequantized.
void tile_row(uint t, uint piece, uint start, uint c, out float w[TILE_K]) {
  dequant8(t, piece, start, c, p.cols, w);
}

// Columns K c .. K c + K - 1 (K = TILE_K) of the input row starting at float xrow, all inside
// the row. No branch (X_VEC4 is a constant): a load outside control flow with the same address
// in every invocation is one load on lavapipe; inside a branch it becomes a per-lane gather.
void tile_input(uint xrow, uint c, out float v[TILE_K]) {
  const uint b = xrow + TILE_K * c;
  if (X_VEC4) {
    [[unroll]] for (uint i = 0; i < TILE_K / 4; ++i) {
      const vec4 a = x4[b / 4u + i];
      v[4 * i] = a.x, v[4 * i + 1] = a.y, v[4 * i + 2] = a.z, v[4 * i + 3] = a.w;
    }
  } else {
    [[unroll]] for (uint i = 0; i < TILE_K; ++i) v[i] = x[b + i];
  }
}
// The same for the row's last step when it is partial: columns at or past `cols` read 0.
void tile_input_tail(uint xrow, uint c, uint cols, out float v[TILE_K]) {
  [[unroll]] for (uint i = 0; i < TILE_K; ++i) v[i] = TILE_K * c + i < cols ? x[xrow + TILE_K * c + i] : 0.0;
}

// acc[r * GT + j] += w[r] . xv for every weight row r: input j's step against the NW rows'.
void tile_fma(float w[NW][TILE_K], float xv[TILE_K], uint j, inout float acc[NW * GT]) {
  [[unroll]] for (uint r = 0; r < NW; ++r) {
    float s = 0.0;
    [[unroll]] for (uint i = 0; i < TILE_K; ++i) s += w[r][i] * xv[i];
    acc[r * GT + j] += s;
  }
}

void tile_step(uint c, bool tail, uint xrow[GT], inout float acc[NW * GT]) {
  float w[NW][TILE_K];
  tile_weights(c, w);
  [[unroll]] for (uint j = 0; j < GT; ++j) {
    float xv[TILE_K];
    if (tail) {
      tile_input_tail(xrow[j], c, p.cols, xv);
    } else {
      tile_input(xrow[j], c, xv);
    }
    tile_scale_input(c, j, xv);
    tile_fma(w, xv, j, acc);
  }
}

// The whole K loop: acc[r * GT + j] = weight row r . input row j (at float xrow[j]) over p.cols.
// Whole steps in the loop without a branch; a partial last step (plain float rows) after it.
void tile_loop(uint xrow[GT], out float acc[NW * GT]) {
  [[unroll]] for (uint i = 0; i < NW * GT; ++i) acc[i] = 0.0;
  const uint whole = p.cols / TILE_K;
  for (uint c = 0; c < whole; ++c) tile_step(c, false, xrow, acc);
  if (TILE_K * whole < p.cols) tile_step(whole, true, xrow, acc);
}
