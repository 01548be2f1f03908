// The progress line on stderr; see progress_line.hpp.
#include "reports/progress_line.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace vmm_pmr::bench {

progress_line::progress_line(bool wanted) : enabled_(wanted && isatty(STDERR_FILENO) == 1) {}

progress_line::~progress_line() { clear(); }

void progress_line::show(std::string_view suite, std::string_view what, std::size_t done,
                         std::size_t total) {
  if (!enabled_) return;
  // "\r\033[K": back to column 0 and erase the previous, possibly longer, line.
  fmt::print(stderr, "\r\033[K[{}] {}: run {} of {}", suite, what, done + 1, total);
  std::fflush(stderr);
  visible_ = true;
}

void progress_line::clear() {
  if (!visible_) return;
  fmt::print(stderr, "\r\033[K");
  std::fflush(stderr);
  visible_ = false;
}

}  // namespace vmm_pmr::bench
