// Statistics of live VMM allocations, for one resource or the whole process.
//
// "bytes" are what callers asked for; "mapped bytes" what the driver mapped after
// rounding to the granularity. Their ratio is the rounding overhead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "vmm_pmr/core/byte_size.hpp"

namespace vmm_pmr {

struct allocation_stats;
// "3 live (5 MiB requested, 6 MiB mapped), peak ..." — also what fmt prints.
std::string to_string(const allocation_stats& stats);

struct allocation_stats {
  std::size_t live_count = 0;
  std::size_t live_bytes = 0;
  std::size_t live_mapped_bytes = 0;
  std::size_t peak_count = 0;
  std::size_t peak_bytes = 0;
  std::size_t peak_mapped_bytes = 0;
  std::uint64_t total_count = 0;  // allocations ever made
  std::uint64_t total_bytes = 0;
  std::uint64_t deallocation_errors = 0;  // foreign pointers, double frees, wrong sizes

  friend bool operator==(const allocation_stats&, const allocation_stats&) = default;
};

}  // namespace vmm_pmr
