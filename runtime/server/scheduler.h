// Who runs next on the model. Today's Model holds one KV cache, so requests take turns: a FIFO
// gate with `slots` concurrent runs (1 until the session redesign, issue 9) and a bounded line
// behind it. When sessions land, this is the piece to replace with a batching scheduler.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>

namespace vkmoe {

class Scheduler {
 public:
  Scheduler(uint32_t slots, uint32_t max_queue) : slots_(slots), max_queue_(max_queue) {}

  // A place in line; released (running or still waiting) when destroyed.
  class Ticket {
   public:
    ~Ticket();
    void wait();  // blocks until this ticket's turn; FIFO
   private:
    friend class Scheduler;
    Ticket(Scheduler& s, uint64_t id) : s_(s), id_(id) {}
    Scheduler& s_;
    uint64_t id_;
    bool running_ = false;
  };

  // Null when every slot is busy and max_queue requests already wait (the server's 503).
  std::unique_ptr<Ticket> enter();
  uint32_t queued() const;
  uint32_t active() const;

 private:
  const uint32_t slots_, max_queue_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<uint64_t> waiting_;
  uint32_t active_ = 0;
  uint64_t next_id_ = 0;
};

}  // namespace vkmoe
