#include "runtime/server/slot.h"

#include <algorithm>

namespace vkmoe {

size_t common_prefix(std::span<const int32_t> a, std::span<const int32_t> b) {
  const size_t n = std::min(a.size(), b.size());
  return static_cast<size_t>(std::mismatch(a.begin(), a.begin() + n, b.begin()).first - a.begin());
}

int best_free_slot(std::span<const std::unique_ptr<Slot>> slots, std::span<const int32_t> prompt) {
  int best = -1, emptiest = -1;
  size_t best_len = 0;
  for (size_t i = 0; i < slots.size(); ++i) {
    if (slots[i]->job) continue;
    const int n = static_cast<int>(i);
    const size_t len = common_prefix(slots[i]->cached, prompt);
    if (best < 0 || len > best_len) best = n, best_len = len;
    if (emptiest < 0 || slots[i]->cached.size() < slots[emptiest]->cached.size()) emptiest = n;
  }
  // A short shared start (a BOS token, a template's first line) is not worth another slot's
  // conversation: below kReuseShare of the prompt, the slot that has the least to lose.
  return best >= 0 && best_len >= kReuseShare * prompt.size() && best_len > 0 ? best : emptiest;
}

void Slot::start(std::shared_ptr<Job> next, uint64_t order) {
  const std::vector<int32_t>& prompt = next->spec().prompt;
  // The last prompt token always runs: its logits give the first sampled token.
  // A sliding-window ring may no longer hold what the prefix needs: then everything runs again.
  const size_t keep =
      session.resumable(uint32_t(std::min(common_prefix(cached, prompt), prompt.empty() ? 0 : prompt.size() - 1)));
  cached.resize(keep);
  session.set_position(static_cast<uint32_t>(keep));
  job = std::move(next);
  admitted = order;
  sampler.emplace(job->spec().sampling);
  for (int32_t t : prompt) sampler->accept(t);  // prompt tokens count towards the penalties
  prefilled = keep;
  pending = -1;
  out = {};
  out.slot = index;
  out.prompt_tokens = static_cast<uint32_t>(prompt.size());
  out.cached_tokens = static_cast<uint32_t>(keep);
}

}  // namespace vkmoe
