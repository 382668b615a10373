#version 450
// Elementwise ops over [rows, n] with row strides, so they read and write slices of wider rows
// (e.g. silu_mul on the two halves of a fused gate/up projection). y may alias a or b.
#define USE_ELT_PARAMS
#include "ops_params.h"

layout(local_size_x = ELTWISE_WG) in;
layout(std430, binding = 0) readonly buffer Ab { float a[]; };
layout(std430, binding = 1) readonly buffer Bb { float b[]; };
layout(std430, binding = 2) buffer Yb { float y[]; };

void main() {
  const uint i = gl_GlobalInvocationID.x;
  const uint r = gl_WorkGroupID.y;
  if (i >= p.n) return;
  const float va = a[p.a_offset + r * p.a_stride + i];
  float v;
  if (p.op == ELT_SCALE) {
    v = va * p.s;
  } else if (p.op == ELT_SOFTCAP) {
    v = p.s * tanh(va / p.s);
  } else {
    const float vb = b[p.b_offset + r * p.b_stride + i];
    if (p.op == ELT_ADD) v = va + vb;
    else if (p.op == ELT_MUL) v = va * vb;
    else if (p.op == ELT_GELU_MUL) v = 0.5 * va * (1.0 + tanh(0.7978845608028654 * va * (1.0 + 0.044715 * va * va))) * vb;
    else v = va / (1.0 + exp(-va)) * vb;  // ELT_SILU_MUL
  }
  y[p.y_offset + r * p.y_stride + i] = v;
}
