// Workgroup-wide sum and max of one float per invocation, for a 1-D workgroup of WG
// invocations (a power of two). Every invocation gets the result. Includes the barriers it
// needs before and after, so calls may follow each other directly. With USE_SUBGROUP the
// subgroups reduce first (any subgroup size); otherwise a shared-memory tree.
// The order of additions is fixed for a given device, so results are deterministic.
#if USE_SUBGROUP
shared float wg_red[WG];  // one slot per subgroup is used; WG bounds the subgroup count
float wg_sum(float v) {
  v = subgroupAdd(v);
  if (subgroupElect()) wg_red[gl_SubgroupID] = v;
  barrier();
  float r = 0.0;
  for (uint i = 0; i < gl_NumSubgroups; ++i) r += wg_red[i];
  barrier();
  return r;
}
float wg_max(float v) {
  v = subgroupMax(v);
  if (subgroupElect()) wg_red[gl_SubgroupID] = v;
  barrier();
  float r = wg_red[0];
  for (uint i = 1; i < gl_NumSubgroups; ++i) r = max(r, wg_red[i]);
  barrier();
  return r;
}
#else
shared float wg_red[WG];
float wg_sum(float v) {
  const uint tid = gl_LocalInvocationID.x;
  wg_red[tid] = v;
  barrier();
  for (uint s = WG / 2; s > 0; s >>= 1) {
    if (tid < s) wg_red[tid] += wg_red[tid + s];
    barrier();
  }
  const float r = wg_red[0];
  barrier();
  return r;
}
float wg_max(float v) {
  const uint tid = gl_LocalInvocationID.x;
  wg_red[tid] = v;
  barrier();
  for (uint s = WG / 2; s > 0; s >>= 1) {
    if (tid < s) wg_red[tid] = max(wg_red[tid], wg_red[tid + s]);
    barrier();
  }
  const float r = wg_red[0];
  barrier();
  return r;
}
#endif
