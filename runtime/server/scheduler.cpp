#include "runtime/server/scheduler.h"

#include <algorithm>

namespace vkmoe {

std::unique_ptr<Scheduler::Ticket> Scheduler::enter() {
  std::lock_guard lock(mu_);
  if (active_ + waiting_.size() >= slots_ + max_queue_) return nullptr;
  waiting_.push_back(next_id_);
  return std::unique_ptr<Ticket>(new Ticket(*this, next_id_++));
}

void Scheduler::Ticket::wait() {
  std::unique_lock lock(s_.mu_);
  if (running_) return;
  s_.cv_.wait(lock, [&] { return s_.active_ < s_.slots_ && s_.waiting_.front() == id_; });
  s_.waiting_.pop_front();
  ++s_.active_;
  running_ = true;
  s_.cv_.notify_all();  // the next in line may have a free slot too
}

Scheduler::Ticket::~Ticket() {
  std::lock_guard lock(s_.mu_);
  if (running_) --s_.active_;
  else s_.waiting_.erase(std::remove(s_.waiting_.begin(), s_.waiting_.end(), id_), s_.waiting_.end());
  s_.cv_.notify_all();
}

uint32_t Scheduler::queued() const {
  std::lock_guard lock(mu_);
  return static_cast<uint32_t>(waiting_.size());
}

uint32_t Scheduler::active() const {
  std::lock_guard lock(mu_);
  return active_;
}

}  // namespace vkmoe
