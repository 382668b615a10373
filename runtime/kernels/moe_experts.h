// The expert computation of an MoE layer on the GPU: SwiGLU experts chosen by the router,
//   out[t] = sum_j w[t, j] * down_e(silu(gate_e x_t) * up_e x_t),  e = ids[t, j],
// with f32 accumulation, on weights in GGUF's own block layouts (every type_supported type).
// ids / weights come from the router on the GPU: no CPU round trip.
//
// Two paths: decode (few tokens) reads only the chosen experts' rows, two dispatches; batched
// (prefill) groups slots by expert on the GPU and runs tiled grouped GEMMs, four dispatches.
// Both are deterministic (fixed summation order, no float atomics).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/quant/ggml_type.h"
#include "runtime/vk/memory.h"

namespace vkmoe {

class Context;
class Device;
class Sequence;

constexpr uint32_t kMoeEmptySlot = 0xFFFFFFFFu;  // an id the router leaves unused
constexpr uint32_t kMaxExpertPieces = 4;         // bindings one expert tensor may span

// Consecutive experts of a tensor that one storage binding covers.
struct ExpertPiece {
  BufferRange range;          // offset aligned to minStorageBufferOffsetAlignment, size to 4
  uint32_t base = 0;          // byte offset of first_expert's first row inside range
  uint32_t first_expert = 0;
  uint32_t experts = 0;
};

// A GGUF expert tensor of ne = [cols, rows, experts]: expert e's row r (cols elements) at
// byte (e * rows + r) * row_bytes. ffn_gate_exps / ffn_up_exps: cols = H, rows = F;
// ffn_down_exps: cols = F, rows = H. A shared expert is the same with experts = 1.
struct ExpertTensor {
  GgmlType type = GgmlType::F32;
  uint32_t experts = 0, rows = 0, cols = 0;
  uint64_t row_bytes = 0;
  uint32_t experts_per_piece = 0;  // every piece but the last holds exactly this many
  std::vector<ExpertPiece> pieces;
};

// Describes the tensor at `offset` (a multiple of 4) of `buffer`, split by whole experts into
// pieces no larger than the device's maxStorageBufferRange (or max_piece_bytes when non-zero:
// tests use it to force splitting). The buffer must extend to the 4-byte boundary past the
// tensor's end, since kernels read whole words. Throws, naming the sizes, when one expert is
// larger than a binding or more than kMaxExpertPieces bindings would be needed.
ExpertTensor make_expert_tensor(const Device& device, const Buffer& buffer, uint64_t offset, GgmlType type,
                                uint32_t experts, uint32_t rows, uint32_t cols, uint64_t max_piece_bytes = 0);

struct MoeFfnWeights {
  // gate and up share a shape; each tensor may have its own type (gate and up of two types run
  // as two decode passes, never the fused or batched gate/up kernels).
  ExpertTensor gate, up, down;
  // gpt-oss: per-expert biases, f32 [gate's E x F | up's E x F] and [E x H] (both or neither), and
  // the clamped SwiGLU min(g, limit) * sigmoid(alpha * min(g, limit)) * (clamp(u, -limit, limit) + 1)
  // in place of silu(g) * u; out[t] = sum_j w[t, j] * (down_e h + down_bias_e).
  BufferRange gate_up_bias, down_bias;
  bool swiglu_oai = false;
  float alpha = 1.702f, limit = 7.0f;
  // llama4: the slot's weight scales the expert's input, out[t] = sum_j down_e(silu(gate_e w x) *
  // up_e w x) (decode path only: the batched path is taken by the decode kernels).
  bool weight_input = false;
  bool gelu = false;  // gelu(g) * u (tanh approximation, ggml's gelu) in place of silu(g) * u (Grok)
};

enum class MoePath { automatic, decode, batched };

// Tuning and test switches, kept with the scratch that every layer shares.
struct MoeSettings {
  // MoePath::automatic uses the batched path from this many tokens on (decode re-reads an
  // expert's rows once per slot using it). create_moe_scratch sets it from
  // default_batched_from_tokens.
  uint32_t batched_from_tokens = 16;
  // The decode pair's variant, forced (tests, benches); unset: choose_moe's (the subgroup variant
  // where subgroup arithmetic runs, except on a CPU device, where the portable one is faster).
  std::optional<bool> subgroup;
  // Decode gate/up slots per workgroup pass: 0 = choose_moe's, else forced (tests;
  // $VKMOE_MOE_GROUP_SLOTS, read by create_moe_scratch, for benches).
  uint32_t group_slots = 0;
  // Bench only: record the decode pair's gate/up (1) or down (2) alone, 3 = both (down alone
  // reads whatever h holds), so each kernel's cost is measured by itself.
  uint32_t decode_stages = 3;
};

// The device facts the MoE kernel choices depend on (moe_device_caps(device); tests fake them).
struct MoeDeviceCaps {
  bool cpu = false;             // a CPU device (lavapipe): its measured crossover and slot groups
  uint32_t subgroup_size = 0;   // the device's default subgroup size
  bool subgroup_arith = false;  // the decode pair's _sg variants run (subgroupAdd)
};
MoeDeviceCaps moe_device_caps(const Device& device);

// One record_moe_experts call as choose_moe sees it.
struct MoeCall {
  uint32_t tokens = 1, k = 1, experts = 1;
  bool mixed_gate_up = false;    // gate and up of two types: two gate/up passes
  bool weight_input = false;     // llama4's input weighting: decode path only
  bool batched_scratch = true;   // the scratch holds the batched path's y and route buffers
  MoePath path = MoePath::automatic;
};

// Every decision the MoE recorder takes, in one place (issue 9: choose(device caps, shape)).
struct MoeChoice {
  MoePath path = MoePath::decode;  // decode (the pair) or batched (route, 2 grouped GEMMs, combine)
  uint32_t batched_from = 0;       // the crossover in tokens that applied (automatic path)
  // Decode pair:
  bool subgroup = false;          // the _sg variants: a subgroup per lane group, lanes split K
  uint32_t workgroup = 0;         // invocations per workgroup (specialization constant 0)
  uint32_t rows_per_wg = 0;       // weight rows per workgroup (constant 1)
  uint32_t gate_up_passes = 1;    // 2 when gate and up differ in type (PROJ 1 then 2)
  // Gate/up slots grouped by expert (constant 8): a workgroup takes every slot of its chunk
  // routed to its expert, up to this many per pass, so each expert's rows are read and
  // dequantized once per pass instead of once per slot; 1 = one slot per workgroup (T = 1).
  uint32_t group_slots = 1;
};
// The largest group_slots the shader's arrays hold (moe_params.h MOE_MAX_GROUP_SLOTS).
constexpr uint32_t kMoeMaxGroupSlots = 4;
// settings: the scratch's crossover (batched_from_tokens) and the portable switch.
MoeChoice choose_moe(const MoeDeviceCaps& caps, const MoeCall& call, const MoeSettings& settings);
// The crossover in tokens for a layer of `experts` experts with k slots per token (the measured
// slots per expert turned into tokens; experts or k of 0: the measured OLMoE shape).
uint32_t moe_batched_from_tokens(const MoeDeviceCaps& caps, uint32_t experts, uint32_t k);

// Sizes the scratch is made for; a layer with more tokens than fit runs in chunks.
struct MoeScratchSize {
  uint32_t tokens = 1;   // most tokens per chunk
  uint32_t k = 1;        // slots per token (1 for a shared expert)
  uint32_t experts = 1;
  uint32_t hidden = 0;   // H
  uint32_t ffn = 0;      // F (the largest over routed and shared experts)
  bool batched = true;   // false: decode path only (no y / route buffers)
};

// Per-slot intermediate results, reused by every layer recorded into sequences that run one
// after another (the Sequence orders reuse with barriers).
struct MoeScratch {
  Buffer h;      // [slots][F] f32: silu(gate) * up
  Buffer y;      // [slots][H] f32: batched path, each slot's down projection
  Buffer route;  // batched path: expert counts, tile experts, slots sorted by expert
  MoeSettings settings;
};

// The bytes create_moe_scratch allocates (0 for a buffer it leaves out); the memory plan uses them.
struct MoeScratchBytes {
  uint64_t h = 0, y = 0, route = 0;
};
MoeScratchBytes moe_scratch_bytes(const MoeScratchSize& size, uint64_t max_storage_range);
MoeScratch create_moe_scratch(Context& ctx, const MoeScratchSize& size);

// The token count from which MoePath::automatic takes the batched path on `device` for a layer
// of `experts` experts with k slots per token: $VKMOE_MOE_BATCHED_FROM (tokens) when set, else
// the crossover measured as slots per expert (tokens x k / experts: what decides between the
// paths, docs/performance.md) turned into tokens for this shape: lavapipe's for CPU devices, else
// the not yet measured GPU guess. experts or k of 0: the measured (OLMoE) shape.
uint32_t default_batched_from_tokens(const Device& device, uint32_t experts = 0, uint32_t k = 0);

// A shared expert (experts == 1) run on every token together with the routed ones. On the
// decode path it is one more slot per token inside the same two dispatches (no extra
// dispatch); the batched path records it separately. Its gate/up and down must have the routed
// tensors' types and hidden size and one binding each; its F may differ (the scratch must then
// hold tokens * (k * F + F_shared) floats: make it with k + 1 and ffn = the larger F).
struct SharedExpertSlot {
  const MoeFfnWeights* weights = nullptr;
  BufferRange gate;  // f32 [tokens]: per-token weight (Qwen2-MoE's sigmoid gate), or empty for 1
};

// What record_moe_experts reads and writes for one layer's routed experts.
struct MoeExpertsArgs {
  uint32_t tokens = 0;
  uint32_t k = 0;       // slots (chosen experts) per token, at least 1
  BufferRange x;        // f32 [tokens, H]
  BufferRange ids;      // uint32 [tokens, k]: the expert of each slot
  BufferRange weights;  // f32 [tokens, k]: the weight of each slot
  BufferRange out;      // f32 [tokens, H]: overwritten, or added to with accumulate
  MoePath path = MoePath::automatic;
  bool accumulate = false;
  const SharedExpertSlot* shared = nullptr;  // a shared expert in the same dispatches, or none
};
void record_moe_experts(Context& ctx, Sequence& seq, const MoeFfnWeights& w, const MoeExpertsArgs& a,
                        MoeScratch& scratch);

// What record_shared_expert reads and writes: a shared expert (experts == 1) on every token.
struct SharedExpertArgs {
  uint32_t tokens = 0;
  BufferRange x;                     // f32 [tokens, H]
  std::optional<BufferRange> scale;  // f32 [tokens]: per-token weight (Qwen2-MoE's sigmoid gate), or 1
  BufferRange out;                   // f32 [tokens, H]: overwritten, or added to with accumulate
  MoePath path = MoePath::automatic;
  bool accumulate = false;
};
void record_shared_expert(Context& ctx, Sequence& seq, const MoeFfnWeights& w, const SharedExpertArgs& a,
                          MoeScratch& scratch);

// The kernel name for a weight type ("moe_gate_up_q4_k", "moe_down_f16_split", ...), for
// tests that enumerate Pipelines::supported_variants.
std::string moe_kernel_name(const char* stage, GgmlType type, bool split = false);

}  // namespace vkmoe
