#include "vmm_pmr/core/cleanup_errors.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace vmm_pmr {
namespace {

std::mutex handler_mutex;
std::atomic<std::size_t> failures{0};

cleanup_error_handler& current_handler() {
  // Leaked on purpose: cleanup can run from static destructors at exit.
  static auto* handler = new cleanup_error_handler(
      [](const std::string& message) { std::fprintf(stderr, "vmm_pmr: %s\n", message.c_str()); });
  return *handler;
}

}  // namespace

cleanup_error_handler set_cleanup_error_handler(cleanup_error_handler handler) {
  std::lock_guard lock(handler_mutex);
  cleanup_error_handler previous = std::move(current_handler());
  current_handler() = std::move(handler);
  return previous;
}

void report_cleanup_error(const std::string& what, const std::exception& failure) noexcept {
  failures.fetch_add(1, std::memory_order_relaxed);
  try {
    std::lock_guard lock(handler_mutex);
    if (current_handler()) current_handler()("cleanup failed: " + what + ": " + failure.what());
  } catch (...) {
    // A reporting handler that throws must not turn cleanup into std::terminate.
  }
}

std::size_t cleanup_error_count() noexcept { return failures.load(std::memory_order_relaxed); }

}  // namespace vmm_pmr
