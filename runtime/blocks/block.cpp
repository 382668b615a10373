#include "runtime/blocks/block.h"

#include "runtime/model/model_config.h"

namespace vkmoe {

BufferRange BlockRun::x() const { return act.x.range(0, uint64_t(pass.tokens) * cfg.n_embd * 4); }
BufferRange BlockRun::xn() const { return act.xn.range(0, uint64_t(pass.tokens) * cfg.n_embd * 4); }
BufferRange BlockRun::positions(size_t i) const { return act.positions.range(i * pass.pos_slot, pass.parts[i].tokens * 4ull); }

BufferRange BlockRun::attn_scratch(size_t i) const {
  return i < layout.n_sessions ? act.attn_split.range(i * layout.pad(layout.attn_split_slot), layout.attn_split_slot)
                               : BufferRange{};
}

}  // namespace vkmoe
