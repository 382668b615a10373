#include "runtime/util/progress.h"

#include <unistd.h>

#include <cstdio>

#include "runtime/vk/caps.h"

namespace vkmoe {

bool stderr_is_terminal() { return isatty(STDERR_FILENO) == 1; }

Progress::Progress(std::string label, uint64_t total_bytes, bool enabled)
    : label_(std::move(label)), total_(total_bytes), enabled_(enabled) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

double Progress::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::advance(uint64_t bytes) {
  done_ += bytes;
  draw(false);
}

void Progress::draw(bool force) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double s = seconds();
  const double rate = s > 0 ? done_ / s : 0;
  const double frac = total_ ? static_cast<double>(done_) / total_ : 1.0;
  constexpr int kWidth = 30;
  char bar[kWidth + 1];
  for (int i = 0; i < kWidth; ++i) bar[i] = i < static_cast<int>(frac * kWidth) ? '#' : '.';
  bar[kWidth] = 0;
  const double left = rate > 0 ? (total_ - done_) / rate : 0;
  std::fprintf(stderr, "\r%s [%s] %s / %s  %.2f GB/s  %.0f s left   ", label_.c_str(), bar, format_bytes(done_).c_str(),
               format_bytes(total_).c_str(), rate / 1e9, left);
  std::fflush(stderr);
}

double Progress::finish() {
  draw(true);
  const double s = seconds();
  const double rate = s > 0 ? done_ / s / 1e9 : 0;
  std::fprintf(stderr, "%s%s: %s in %.2f s (%.2f GB/s)\n", enabled_ ? "\n" : "", label_.c_str(), format_bytes(done_).c_str(), s,
               rate);
  return rate;
}

}  // namespace vkmoe
