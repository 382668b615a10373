// Dot product of one weight row with a row of x, for the router's weight types.
// Included once per weight buffer with:
//   RD_NAME  function name          RD_BUF  the uint[] array holding the rows
//   RD_TYPE  GGML type (constant)   X_AT(i) element i of x (a float[] index expression)
// Lanes split the work: lane `lane` of `lanes` takes elements (F32/F16/BF16) or 32-element
// blocks (Q8_0) lane, lane + lanes, ...; the caller sums over lanes.
// Reads are uint32 words at byte offsets, so no 8/16-bit storage feature is needed.
float RD_NAME(uint row, uint cols, uint xbase, uint lane, uint lanes) {
  float acc = 0.0;
  if (RD_TYPE == GGML_F32) {
    const uint base = row * cols;
    for (uint i = lane; i < cols; i += lanes) acc += uintBitsToFloat(RD_BUF[base + i]) * X_AT(xbase + i);
  } else if (RD_TYPE == GGML_F16 || RD_TYPE == GGML_BF16) {
    const uint base = row * cols;
    for (uint i = lane; i < cols; i += lanes) {
      const uint e = base + i;
      const uint h = (RD_BUF[e >> 1] >> ((e & 1u) * 16u)) & 0xFFFFu;
      const float w = RD_TYPE == GGML_F16 ? unpackHalf2x16(h).x : uintBitsToFloat(h << 16);
      acc += w * X_AT(xbase + i);
    }
  } else if (RD_TYPE == GGML_Q8_0) {
    const uint nb = cols / 32u;
    const uint rowbyte = row * nb * 34u;
    for (uint b = lane; b < nb; b += lanes) {
      const uint o = rowbyte + b * 34u;  // d (f16) then 32 signed bytes
      const float d = unpackHalf2x16((RD_BUF[o >> 2] >> ((o & 2u) * 8u)) & 0xFFFFu).x;
      float s = 0.0;
      for (uint j = 0; j < 32u; ++j) {
        const uint q = o + 2u + j;
        const int v = int((RD_BUF[q >> 2] >> ((q & 3u) * 8u)) << 24) >> 24;
        s += float(v) * X_AT(xbase + b * 32u + j);
      }
      acc += d * s;
    }
  }
  return acc;
}
