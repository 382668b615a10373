#version 450
// An empty dispatch: what a dispatch costs with no work in it. The binding is read-only so
// consecutive dispatches need no barrier between them.
#include "bench_params.h"

layout(local_size_x = BENCH_WG) in;
layout(std430, binding = 0) readonly buffer In { uint x[]; };

void main() {}
