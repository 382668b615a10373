#include "runtime/server/batch_loop.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace vkmoe {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

float top2_gap(std::span<const float> row) {
  float a = -INFINITY, b = -INFINITY;
  for (float v : row)
    if (v > a) b = a, a = v;
    else if (v > b) b = v;
  return a - b;
}

}  // namespace

BatchLoop::BatchLoop(Model& model, const Tokenizer& tokenizer, BatchLoopOptions options)
    : model_(model), tok_(tokenizer), opt_(options) {
  if (opt_.slots == 0 || opt_.n_batch == 0) throw std::invalid_argument("batch loop: slots and n_batch must be at least 1");
  if (opt_.slots > model.free_sessions() || opt_.slots > model.max_batch())
    throw std::invalid_argument("batch loop: " + std::to_string(opt_.slots) + " slots, but the model was loaded with " +
                                std::to_string(model.free_sessions()) + " free sessions (-np) and batches of " +
                                std::to_string(model.max_batch()) + " tokens");
  for (uint32_t i = 0; i < opt_.slots; ++i) slots_.push_back(std::make_unique<Slot>(model, i));
  stats_.slots = opt_.slots;
  stats_.slot_cells.assign(opt_.slots, 0);
  thread_ = std::thread([this] { run(); });
}

BatchLoop::~BatchLoop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool BatchLoop::submit(std::shared_ptr<Job> job) {
  {
    std::lock_guard lock(mu_);
    if (stop_) return false;
    std::erase_if(queue_, [](const auto& j) {
      if (!j->cancelled()) return false;
      j->finish({.client_gone = true});
      return true;
    });
    if (stats_.active + queue_.size() >= opt_.slots + opt_.max_queue) return false;
    queue_.push_back(std::move(job));
    stats_.queued = static_cast<uint32_t>(queue_.size());
  }
  wake_.notify_all();
  return true;
}

BatchStats BatchLoop::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void BatchLoop::run() {
  for (;;) {
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [&] { return stop_ || !queue_.empty() || stats_.active > 0; });
      if (stop_) break;
      admit_locked();
    }
    try {
      drop_cancelled();
      prefill_turn();
      decode_turn();
    } catch (const std::exception& e) {  // not the model's (those fail their slots): fail every job, serve on
      for (auto& s : slots_)
        if (s->job) fail(*s, e);
    }
  }
  for (auto& s : slots_)
    if (s->job) finish(*s, StopReason::interrupted, "the server is stopping");
  std::lock_guard lock(mu_);
  for (auto& j : queue_) j->finish({.error = "the server is stopping"});
  queue_.clear();
}

// Called with mu_ held: the queue's jobs, oldest first, into free slots.
void BatchLoop::admit_locked() {
  while (!queue_.empty()) {
    std::shared_ptr<Job> job = queue_.front();
    if (job->cancelled()) {
      queue_.pop_front();
      job->finish({.client_gone = true});
      continue;
    }
    const int i = best_free_slot(slots_, job->spec().prompt);
    if (i < 0) break;
    queue_.pop_front();
    Slot& s = *slots_[i];
    s.start(std::move(job), admitted_++);
    s.filter = std::make_unique<ReplyFilter>(tok_, *s.job);
    ++stats_.active;
  }
  stats_.queued = static_cast<uint32_t>(queue_.size());
  stats_.most_active = std::max(stats_.most_active, stats_.active);
}

void BatchLoop::drop_cancelled() {
  for (auto& s : slots_)
    if (s->job && s->job->cancelled()) {
      s->out.client_gone = true;
      finish(*s, StopReason::interrupted);
    }
}

// Up to n_batch prompt tokens over the prefilling slots, in admission order.
void BatchLoop::prefill_turn() {
  std::vector<Slot*> order;
  for (auto& s : slots_)
    if (s->prefilling()) order.push_back(s.get());
  std::sort(order.begin(), order.end(), [](const Slot* a, const Slot* b) { return a->admitted < b->admitted; });
  uint32_t budget = opt_.n_batch;
  for (Slot* s : order) {
    if (budget == 0) break;
    const std::vector<int32_t>& prompt = s->job->spec().prompt;
    const size_t n = std::min<size_t>(budget, prompt.size() - s->prefilled);
    const std::span<const int32_t> chunk(prompt.data() + s->prefilled, n);
    const auto t0 = Clock::now();
    try {
      std::vector<float> logits = model_.forward(s->session, chunk);
      const double secs = seconds_since(t0);
      s->cached.insert(s->cached.end(), chunk.begin(), chunk.end());
      s->prefilled += n;
      s->out.prefill_seconds += secs;
      budget -= static_cast<uint32_t>(n);
      {
        std::lock_guard lock(mu_);
        stats_.prompt_tokens += n;
        stats_.prefill_seconds += secs;
      }
      publish();
      if (!s->prefilling()) take_token(*s, logits);
    } catch (const std::exception& e) {
      fail(*s, e);
    }
  }
}

// One decode step of every slot with a pending token, as one batch.
void BatchLoop::decode_turn() {
  std::vector<Session*> sessions;
  std::vector<int32_t> tokens;
  std::vector<Slot*> slots;
  for (auto& s : slots_)
    if (s->job && s->pending >= 0) {
      sessions.push_back(&s->session);
      tokens.push_back(s->pending);
      slots.push_back(s.get());
    }
  if (slots.empty()) return;
  const auto t0 = Clock::now();
  std::vector<float> rows;
  try {
    // One slot alone runs as a plain forward: exactly what a single conversation runs.
    rows = slots.size() == 1 ? model_.forward(*sessions[0], tokens) : model_.decode(sessions, tokens);
  } catch (const std::exception& e) {
    for (Slot* s : slots) fail(*s, e);
    return;
  }
  const double secs = seconds_since(t0);
  {
    std::lock_guard lock(mu_);
    ++stats_.decode_steps;
    stats_.batched_steps += slots.size() > 1;
    stats_.step_tokens += slots.size();
    stats_.largest_step = std::max(stats_.largest_step, static_cast<uint32_t>(slots.size()));
    stats_.decode_seconds += secs;
  }
  publish();
  const size_t V = rows.size() / slots.size();
  for (size_t i = 0; i < slots.size(); ++i) {
    Slot& s = *slots[i];
    s.cached.push_back(s.pending);
    s.pending = -1;
    s.out.decode_seconds += secs;
    try {
      take_token(s, std::span<const float>(rows.data() + i * V, V));
    } catch (const std::exception& e) {
      fail(s, e);
    }
  }
}

void BatchLoop::take_token(Slot& s, std::span<const float> logits) {
  const int32_t next = s.sampler->sample(logits);
  s.out.tokens.push_back(next);
  s.out.margins.push_back(top2_gap(logits));
  ++s.out.generated_tokens;
  {
    std::lock_guard lock(mu_);
    ++stats_.generated_tokens;
  }
  const JobSpec& spec = s.job->spec();
  if (tok_.is_end_of_turn(next)) return finish(s, StopReason::end_of_turn);
  if (s.filter->push(next)) return finish(s, StopReason::end_of_turn);  // a stop string
  if (spec.max_tokens >= 0 && s.out.generated_tokens >= static_cast<uint32_t>(spec.max_tokens))
    return finish(s, StopReason::max_tokens);
  if (s.session.position() >= s.session.n_ctx()) return finish(s, StopReason::context_full);
  s.pending = next;
}

void BatchLoop::finish(Slot& s, StopReason reason, std::string error) {
  if (s.filter && error.empty() && !s.out.client_gone) s.filter->finish();
  s.out.reason = reason;
  s.out.stop_string = s.filter && s.filter->stop_string();
  s.out.error = std::move(error);
  {
    // Counted before the job learns it is done: whoever waits on it then sees the stats too.
    std::lock_guard lock(mu_);
    --stats_.active;
    ++stats_.requests;
    stats_.cached_tokens += s.out.cached_tokens;
  }
  s.job->finish(std::move(s.out));
  s.job.reset();
  s.filter.reset();
  s.pending = -1;
}

void BatchLoop::fail(Slot& s, const std::exception& e) {
  // The cache may hold part of a failed pass: nothing in it can be reused.
  s.cached.clear();
  s.session.reset();
  if (s.job) finish(s, StopReason::interrupted, e.what());
}

// The slots' cache use and routing counts for /metrics, after each pass and before any job it
// finishes learns so: a client that reads /metrics after its reply sees its tokens counted.
void BatchLoop::publish() {
  std::vector<uint32_t> cells;
  RoutingSnapshot routing;
  for (auto& s : slots_) {
    cells.push_back(s->session.position());
    const RoutingSnapshot& r = s->session.routing();
    if (routing.counts.empty()) routing = r;
    else
      for (size_t i = 0; i < r.counts.size() && i < routing.counts.size(); ++i) routing.counts[i] += r.counts[i];
  }
  std::lock_guard lock(mu_);
  stats_.slot_cells = std::move(cells);
  stats_.routing = std::move(routing);
}

}  // namespace vkmoe
