// The one-line progress indicator on stderr for suites that run for a while.
//
// Only drawn when stderr is a terminal: in a CI log or a redirected file, carriage
// returns would leave a wall of half-overwritten lines. The line is erased before any
// report is printed, so stdout stays clean even when both go to the same terminal.
#pragma once

#include <cstddef>
#include <string_view>

namespace vmm_pmr::bench {

class progress_line {
 public:
  explicit progress_line(bool wanted);
  progress_line(const progress_line&) = delete;
  progress_line& operator=(const progress_line&) = delete;
  ~progress_line();

  // "[latency] 64 MiB: run 12 of 92"
  void show(std::string_view suite, std::string_view what, std::size_t done, std::size_t total);
  void clear();

 private:
  bool enabled_;
  bool visible_ = false;
};

}  // namespace vmm_pmr::bench
