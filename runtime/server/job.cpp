#include "runtime/server/job.h"

namespace vkmoe {

bool Job::wait(std::vector<JobPiece>& out, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return done_ || !pieces_.empty(); });
  for (auto& p : pieces_) out.push_back(std::move(p));
  pieces_.clear();
  return done_;
}

void Job::push(ReplyChannel channel, std::string text) {
  if (text.empty()) return;
  {
    std::lock_guard lock(mu_);
    pieces_.push_back({channel, std::move(text)});
  }
  cv_.notify_all();
}

void Job::finish(JobOutcome outcome) {
  {
    std::lock_guard lock(mu_);
    if (done_) return;
    outcome_ = std::move(outcome);
    done_ = true;
  }
  cv_.notify_all();
}

ReplyFilter::ReplyFilter(const Tokenizer& tokenizer, Job& job)
    : job_(job),
      decoder_(tokenizer, /*render_special=*/job.spec().harmony),
      matcher_(job.spec().stop),
      channels_([this](ReplyChannel channel, std::string_view t) {
        if (channel == ReplyChannel::content) content(std::string(t));
        else if (channel == ReplyChannel::reasoning && !matcher_.stopped()) job_.push(channel, std::string(t));
      }) {}

void ReplyFilter::content(const std::string& text) { job_.push(ReplyChannel::content, matcher_.push(text)); }

bool ReplyFilter::push(int32_t token) {
  const std::string piece = decoder_.push(token);
  if (job_.spec().harmony) channels_.push(piece);
  else content(piece);
  return matcher_.stopped();
}

void ReplyFilter::finish() {
  const std::string rest = decoder_.flush();
  if (job_.spec().harmony) {
    channels_.push(rest);
    channels_.finish();
  } else {
    content(rest);
  }
  job_.push(ReplyChannel::content, matcher_.flush());
}

}  // namespace vkmoe
