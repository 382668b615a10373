// A terminal progress bar for long work (bytes done, GB/s, time left). Silent when stderr is
// not a terminal, so logs and CI output stay clean; the final line is printed either way.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace vkmoe {

class Progress {
 public:
  Progress(std::string label, uint64_t total_bytes, bool enabled);
  void advance(uint64_t bytes);
  // Prints "label: X in Y s (Z GB/s)" and returns the rate in GB/s.
  double finish();
  double seconds() const;

 private:
  void draw(bool force);
  std::string label_;
  uint64_t total_, done_ = 0;
  bool enabled_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

bool stderr_is_terminal();

}  // namespace vkmoe
