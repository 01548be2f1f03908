// Test double: a backend decorator that places every reservation one alignment past a
// multiple of a large power of two (1 GiB by default): aligned to exactly the alignment
// asked for (at least the granularity), never to twice that, and on the host backend at
// the same address on every run.
//
// Where mmap or the driver places a reservation decides how aligned it is beyond what was
// asked, and where its start falls against every larger unit (a chunk size that is no
// power of two, say): code that silently relies on either works on some runs and fails on
// others. Under this decorator it does the same on every run, and a recorded input (a
// fuzzer's crash, say) replays the same way each time. Reservations go to fixed addresses
// in an arena far from anything mmap hands out, one after another, as hints; where a hint
// is refused (a backend that places memory itself, or a sanitizer's layout), the
// decorator reserves `size + period` bytes wherever it gets them and hands out the part
// that starts where it should, which keeps the alignment exact though not the address
// (always so under ThreadSanitizer, which forbids mappings outside its ranges).
// Freeing the part frees the whole. Hinted reservations of the caller are forwarded.
#pragma once

#include <algorithm>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include "vmm_pmr/backend/forwarding_backend.hpp"

#if defined(__SANITIZE_THREAD__)
#define VMM_PMR_TEST_THREAD_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define VMM_PMR_TEST_THREAD_SANITIZER 1
#endif
#endif

namespace vmm_pmr::testing {

class exact_alignment_backend final : public forwarding_backend {
 public:
  static constexpr std::size_t default_period = std::size_t{1} << 30;
  // 80 TiB: above where Linux places mmaps by default, inside every x86-64 user space.
  static constexpr address arena = address{80} << 40;
  // ThreadSanitizer aborts a process that maps memory outside its application ranges.
#ifdef VMM_PMR_TEST_THREAD_SANITIZER
  static constexpr bool arena_usable = false;
#else
  static constexpr bool arena_usable = true;
#endif

  exact_alignment_backend(std::shared_ptr<backend> inner, std::size_t granularity,
                          std::size_t period = default_period)
      : forwarding_backend(std::move(inner)), granularity_(granularity), period_(period) {}

  address reserve_address_range(std::size_t size, std::size_t alignment, address hint) override {
    const std::size_t exact = std::max(alignment, granularity_);
    const std::size_t period = std::max(period_, 2 * exact);
    if (hint != 0 || exact > SIZE_MAX / 4 || size > SIZE_MAX / 4 - period) {
      return inner().reserve_address_range(size, alignment, hint);
    }
    if (arena_usable && period % exact == 0) {
      if (const address placed = reserve_in_arena(size, exact, period)) return placed;
    }
    const std::size_t whole = size + period;
    const address outer = inner().reserve_address_range(whole, exact, 0);
    // outer is a multiple of `exact`, so the multiple of the period at or above it is at
    // most period - exact away, and the part handed out ends inside the whole.
    const address base = (outer + period - 1) / period * period + exact;
    std::lock_guard lock(mutex_);
    outer_of_.emplace(base, placement{outer, whole, size});
    return base;
  }

  void free_address_range(address base, std::size_t size) override {
    std::unique_lock lock(mutex_);
    const auto placed = outer_of_.find(base);
    // In the arena, not one of ours, or freed with another size: the inner backend frees
    // it, or refuses it as usual.
    if (placed == outer_of_.end() || placed->second.size != size) {
      lock.unlock();
      inner().free_address_range(base, size);
      return;
    }
    const placement whole = placed->second;
    lock.unlock();
    inner().free_address_range(whole.outer, whole.outer_size);
    lock.lock();
    outer_of_.erase(base);
  }

 private:
  struct placement {
    address outer;
    std::size_t outer_size;
    std::size_t size;
  };

  // The next place in the arena, as a hint; 0 when the backend puts it elsewhere.
  address reserve_in_arena(std::size_t size, std::size_t exact, std::size_t period) {
    std::unique_lock lock(mutex_);
    const address wanted = (next_ + period - 1) / period * period + exact;
    next_ = wanted + size;
    lock.unlock();
    const address got = inner().reserve_address_range(size, exact, wanted);
    if (got == wanted) return got;
    inner().free_address_range(got, size);
    return 0;
  }

  std::size_t granularity_;
  std::size_t period_;
  std::mutex mutex_;
  address next_ = arena;
  std::map<address, placement> outer_of_;  // by the base handed out
};

}  // namespace vmm_pmr::testing
