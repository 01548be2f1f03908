// The pool's lock: held for tens of nanoseconds on the hot path, so taking and releasing
// it must cost one atomic exchange and one store, not a pthread call each.
//
// Waiters spin briefly (the holder is usually about to release), then yield the CPU, so
// a holder that was preempted, or that waits for an event call of a few microseconds on
// a slow path, gets its core back instead of competing with spinners. BasicLockable:
// std::lock_guard and std::unique_lock work with it.
#pragma once

#include <atomic>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace vmm_pmr::detail {

class spin_lock {
 public:
  void lock() noexcept {
    while (locked_.exchange(true, std::memory_order_acquire)) {
      // Wait on a plain load: spinning on the exchange would bounce the cache line.
      for (int spins = 0; locked_.load(std::memory_order_relaxed); ++spins) {
        if (spins < spins_before_yield) {
          relax();
        } else {
          std::this_thread::yield();
        }
      }
    }
  }
  bool try_lock() noexcept { return !locked_.exchange(true, std::memory_order_acquire); }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  static constexpr int spins_before_yield = 64;

  static void relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }

  std::atomic<bool> locked_{false};
};

}  // namespace vmm_pmr::detail
