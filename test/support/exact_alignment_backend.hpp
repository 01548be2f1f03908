// Test double: a backend decorator that places every reservation one alignment past a
// multiple of a large power of two (1 GiB by default): aligned to exactly the alignment
// asked for (at least the granularity), never to twice that, and at the same offset from
// every larger power of two up to the period on every run.
//
// Where mmap or the driver places a reservation decides how aligned it is beyond what was
// asked, and where its start falls within larger units: code that silently relies on
// either works on some runs and fails on others. Under this decorator it does the same on
// every run, and a recorded input (a fuzzer's crash, say) replays the same way each time.
// It reserves `size + period` bytes (address space only) and hands out the part that
// starts where it should; freeing that part frees the whole. Hinted reservations are
// forwarded as they are.
#pragma once

#include <algorithm>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include "vmm_pmr/forwarding_backend.hpp"

namespace vmm_pmr::test {

class exact_alignment_backend final : public forwarding_backend {
 public:
  static constexpr std::size_t default_period = std::size_t{1} << 30;

  exact_alignment_backend(std::shared_ptr<backend> inner, std::size_t granularity,
                          std::size_t period = default_period)
      : forwarding_backend(std::move(inner)), granularity_(granularity), period_(period) {}

  address reserve_address_range(std::size_t size, std::size_t alignment, address hint) override {
    const std::size_t exact = std::max(alignment, granularity_);
    const std::size_t period = std::max(period_, 2 * exact);
    if (hint != 0 || exact > SIZE_MAX / 4 || size > SIZE_MAX - period) {
      return inner().reserve_address_range(size, alignment, hint);
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
    // Not one of ours, or freed with another size: the inner backend refuses it as usual.
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
  std::size_t granularity_;
  std::size_t period_;
  std::mutex mutex_;
  struct placement {
    address outer;
    std::size_t outer_size;
    std::size_t size;
  };
  std::map<address, placement> outer_of_;  // by the base handed out
};

}  // namespace vmm_pmr::test
