// What every GPU block (runtime/blocks/<block>.{h,cpp}) is given. A block is three functions in
// its own namespace:
//   bind(Weights&, layer)            -> the block's bound struct: layer l's tensors, shapes checked;
//   activation_bytes(config, shape)  -> the activation buffers it reads and writes (BlockBuffer),
//                                       which activation_layout() merges into the one layout the
//                                       plan sums and the Engine allocates;
//   record(BlockRun, bound, ...)     -> its dispatches into the pass's Sequence.
// Blocks read the config's flags and the LayerSpec, never an architecture's name.
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/kernels/moe_experts.h"
#include "runtime/memory/activation_layout.h"
#include "runtime/vk/memory.h"

namespace vkmoe {

class Context;
class Sequence;
class Session;
class Weights;
struct ModelConfig;

// One pass: T tokens of one session (parts.size() == 1, any T), or one token of each of T
// sessions (parts.size() == T; each part's rows are then pad()-aligned so it binds its own).
struct PassPart {
  Session* session = nullptr;
  uint32_t first = 0, tokens = 0, pos = 0;  // rows first .. first + tokens - 1 of the batch
};
enum class LogitsMode { last, all };
struct Pass {
  uint32_t tokens = 0;
  std::vector<PassPart> parts;
  LogitsMode mode = LogitsMode::last;
  // Floats between two tokens' rows of q, the attention output and MLA's kv (packed with one
  // part), and bytes between two parts' position slots.
  uint32_t q_stride = 0, o_stride = 0, kv_stride = 0;
  uint64_t pos_slot = 0;
};

// The Engine's buffers for one batch, allocated from ActivationLayout (the same names; the
// shapes are there). Shared by every layer: a block writes them, the next block reads them.
struct Activations {
  Buffer x, xn, q, qkv, k, v, attn;
  Buffer ids, wts, routing, shared_gate;
  Buffer logits, tokens, positions;
  Buffer mla_latent, mla_kv_a, mla_kv;
  Buffer ffn_gate, ffn_up, x_in;
  Buffer attn_split;
  MoeScratch moe;
};

// Everything one block's record() reads besides its bound weights.
struct BlockRun {
  Context& ctx;
  Sequence& seq;
  const ModelConfig& cfg;
  const ActivationLayout& layout;
  Activations& act;
  const Pass& pass;
  uint32_t layer = 0;

  uint32_t tokens() const { return pass.tokens; }
  BufferRange x() const;   // [T, H] residual stream
  BufferRange xn() const;  // [T, H] normed copy
  BufferRange positions(size_t part) const;  // u32 [tokens] of parts[part]
  BufferRange attn_scratch(size_t part) const;  // attention's split partials of parts[part] (empty: no split)
};

}  // namespace vkmoe
