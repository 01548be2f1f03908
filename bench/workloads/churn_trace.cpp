// Trace generation; see churn_trace.hpp.
#include "workloads/churn_trace.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <random>

namespace vmm_pmr::bench {
namespace {

// Uniform in [0, bound) from raw 64-bit draws; the modulo bias for the small bounds used
// here is below 2^-37, far under anything a timing can show.
std::uint64_t uniform_below(std::mt19937_64& engine, std::uint64_t bound) {
  return engine() % bound;
}

}  // namespace

churn_trace make_churn_trace(std::uint64_t seed, std::size_t random_operations, std::size_t slots,
                             std::size_t smallest, std::size_t largest) {
  assert(std::has_single_bit(smallest) && std::has_single_bit(largest) && smallest < largest);
  assert(slots >= 1);
  std::mt19937_64 engine(seed);
  const int lowest_octave = std::countr_zero(smallest);
  const int octaves = std::countr_zero(largest) - lowest_octave;

  churn_trace trace;
  trace.slots = slots;
  trace.operations.reserve(random_operations + slots);
  std::vector<std::size_t> live(slots, 0);
  std::size_t live_bytes = 0;
  std::size_t live_count = 0;

  for (std::size_t i = 0; i < random_operations; ++i) {
    const auto slot = static_cast<std::uint32_t>(uniform_below(engine, slots));
    if (live[slot] != 0) {
      trace.operations.push_back({slot, false, live[slot]});
      live_bytes -= live[slot];
      --live_count;
      live[slot] = 0;
      continue;
    }
    const int octave = lowest_octave + static_cast<int>(uniform_below(engine, octaves));
    const std::size_t octave_start = std::size_t{1} << octave;
    const std::size_t bytes = octave_start + uniform_below(engine, octave_start);
    trace.operations.push_back({slot, true, bytes});
    live[slot] = bytes;
    live_bytes += bytes;
    ++live_count;
    ++trace.allocations;
    trace.peak_live_bytes = std::max(trace.peak_live_bytes, live_bytes);
    trace.peak_live_count = std::max(trace.peak_live_count, live_count);
  }
  for (std::uint32_t slot = 0; slot < slots; ++slot) {
    if (live[slot] != 0) trace.operations.push_back({slot, false, live[slot]});
  }
  return trace;
}

}  // namespace vmm_pmr::bench
