// A dense weight matrix for matmul and get_rows: whole rows split over MM_MAX_PIECES bindings
// starting at binding W_BINDING (moe_weights.glsl declares them and load_word()), and
// dequant.glsl's dequant8 on it. Needs ops_params.h with USE_MATMUL_PARAMS.
#define PIECES MM_MAX_PIECES
// Specialization constant 3: the weight's pieces (1 spares every load its piece branch).
layout(constant_id = 3) const uint WEIGHT_PIECES = MM_MAX_PIECES;
#define PIECES_USED WEIGHT_PIECES
#define WA_BINDING W_BINDING
#include "moe_weights.glsl"
#include "dequant.glsl"
#include "dequant_unit.glsl"

// Byte offset of weight row r inside its piece's binding; also returns the piece.
uint weight_row(uint r, out uint piece) {
  piece = r / p.rows_per_piece;
  return p.base[piece] + (r - piece * p.rows_per_piece) * p.row_bytes;
}
