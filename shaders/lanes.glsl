// Lane groups of the matrix-vector kernels (dense matvec, MoE decode pair): each group owns RPS
// weight rows at a time. With USE_SUBGROUP a group is a subgroup whose lanes split K in chunks
// of 8 and reduce with subgroupAdd; without, a group is one invocation and needs no reduction.
// Either way there is no shared memory and no barrier. The workgroup size (a multiple of the
// device's subgroup size) and the rows per workgroup are specialization constants 0 and 1 set by
// the host (vec_shape in runtime/kernels/matmul.cpp), never assumed here; any subgroup size
// gives the same results up to summation order.
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint ROWS_PER_WG = 8;
#define RPS 2  // rows per group: each input load serves all of them (kVecRowsPerGroup)

#if USE_SUBGROUP
#define LANES gl_SubgroupSize
#define LANE gl_SubgroupInvocationID
#define GROUP gl_SubgroupID
#define GROUPS gl_NumSubgroups
#define LANE_SUM(v) subgroupAdd(v)
#else
#define LANES 1u
#define LANE 0u
#define GROUP gl_LocalInvocationID.x
#define GROUPS gl_WorkGroupSize.x
#define LANE_SUM(v) (v)
#endif

