// The allocation trace the churn suite replays, generated once from a seed.
//
// Each of `operations` steps picks one of `slots` slots at random: an empty slot gets a
// new allocation, a full one is freed; then every allocation still live is freed, so a
// replay leaves nothing behind. Sizes are log-uniform between `smallest` and `largest`:
// an octave [2^k, 2^(k+1)) is chosen uniformly, then a size uniformly inside it. Only
// std::mt19937_64's raw output and integer arithmetic are used (no std::*_distribution,
// whose results differ between standard libraries), so one seed gives one trace on
// every machine and numbers from two machines describe the same work.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace vmm_pmr::bench {

struct trace_operation {
  std::uint32_t slot = 0;
  bool allocate = false;  // false: free the slot's allocation
  std::size_t bytes = 0;  // of the allocation made or freed
};

struct churn_trace {
  std::vector<trace_operation> operations;
  std::size_t slots = 0;
  std::size_t allocations = 0;
  std::size_t peak_live_bytes = 0;  // most bytes requested and live at once
  std::size_t peak_live_count = 0;

  // The largest sum of `round(bytes)` live at once, for any rounding rule.
  template <typename Round>
  std::size_t peak_live_rounded(Round&& round) const {
    std::vector<std::size_t> live(slots, 0);
    std::size_t current = 0;
    std::size_t peak = 0;
    for (const trace_operation& op : operations) {
      if (op.allocate) {
        live[op.slot] = round(op.bytes);
        current += live[op.slot];
        peak = current > peak ? current : peak;
      } else {
        current -= live[op.slot];
        live[op.slot] = 0;
      }
    }
    return peak;
  }
};

// `smallest` and `largest` are powers of two, smallest < largest; slots ≥ 1.
churn_trace make_churn_trace(std::uint64_t seed, std::size_t random_operations, std::size_t slots,
                             std::size_t smallest, std::size_t largest);

}  // namespace vmm_pmr::bench
