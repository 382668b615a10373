// The body of load_word / load_word4 (moe_weights.glsl includes it twice: LW_TYPE, LW_NAME,
// LW(binding) name the result type, the function and the view of each binding).
LW_TYPE LW_NAME(uint t, uint piece, uint i) {
#ifdef WSA_BINDING
  if (t == 2) return LW(wsa)[i];
#ifdef WSB_BINDING
  if (t == 3) return LW(wsb)[i];
#endif
#endif
#if PIECES > 1
#ifdef WB_BINDING
  if (t != 0) {
    if (PIECES_USED == 1 || piece == 0) return LW(wb0)[i];
    if (piece == 1) return LW(wb1)[i];
    if (piece == 2) return LW(wb2)[i];
    return LW(wb3)[i];
  }
#endif
  if (PIECES_USED == 1 || piece == 0) return LW(wa0)[i];
  if (piece == 1) return LW(wa1)[i];
  if (piece == 2) return LW(wa2)[i];
  return LW(wa3)[i];
#else
#ifdef WB_BINDING
  if (t != 0) return LW(wb0)[i];
#endif
  return LW(wa0)[i];
#endif
}
