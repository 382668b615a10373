#version 450
#extension GL_EXT_control_flow_attributes : require
// Embedding lookup: y[t, :] = dequantized row ids[t] of a table [rows, cols] in its GGUF block
// layout (TYPE), times p.scale when set. One workgroup per token; an id at or past `rows` gives a
// row of zeros.
#define USE_MATMUL_PARAMS
#include "ops_params.h"

layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Ib { uint ids[]; };
layout(std430, binding = 1) writeonly buffer Yb { float y[]; };
#define W_BINDING 2
#include "matmul_weights.glsl"

void main() {
  dequant_prologue();
  const uint t = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
  if (t >= p.tokens) return;
  const uint id = ids[t];
  uint piece = 0, start = 0;
  if (id < p.rows) start = weight_row(id, piece);
  const float s = p.scale != 0.0 ? p.scale : 1.0;
  for (uint c = gl_LocalInvocationID.x; c < (p.cols + 7u) / 8u; c += 64) {
    float v[8];
    if (id < p.rows) {
      dequant8(0, piece, start, c, p.cols, v);
    } else {
      for (uint i = 0; i < 8; ++i) v[i] = 0.0;
    }
    for (uint i = 0; i < 8 && 8u * c + i < p.cols; ++i) y[t * p.y_stride + 8u * c + i] = v[i] * s;
  }
}
