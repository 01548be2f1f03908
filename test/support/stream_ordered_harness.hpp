// A stream_ordered_resource over the test doubles, for the CPU suites.
//
// The backend stack, top to bottom: manual_event_backend (events complete when the test
// says so; event calls stop here), fault_injecting_backend (fails the N-th VMM call
// without forwarding it), counting_backend (counts live driver objects; failed calls
// never reach it), and the host backend with the GPU's 2 MiB granularity.
#pragma once

#include <catch2/catch_message.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "support/backends_under_test.hpp"
#include "support/resource_fixtures.hpp"
#include "vmm_pmr/core/stream_view.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"
#include "vmm_pmr/testing/counting_backend.hpp"
#include "vmm_pmr/testing/fault_injecting_backend.hpp"
#include "vmm_pmr/testing/manual_event_backend.hpp"

namespace vmm_pmr::test {

inline stream_view test_stream(std::uintptr_t id) {
  return stream_view(reinterpret_cast<CUstream_st*>(id));
}

inline std::uintptr_t as_address(const void* pointer) {
  return reinterpret_cast<std::uintptr_t>(pointer);
}

// Every chunk exactly one granule: tests can count chunks.
inline stream_ordered_options granule_chunks(stream_ordered_options options = {}) {
  options.min_chunk_size = two_mib;
  options.max_chunk_size = two_mib;
  return options;
}

struct stream_ordered_harness {
  explicit stream_ordered_harness(std::size_t capacity = 0)
      : counting(
            std::make_shared<testing::counting_backend>(make_test_host_backend(two_mib, capacity))),
        faults(std::make_shared<testing::fault_injecting_backend>(counting)),
        events(std::make_shared<testing::manual_event_backend>(faults)) {}

  // Bad deallocations and leaks go to `reports`.
  stream_ordered_options options(stream_ordered_options base = {}) {
    base.memory = reports.attach(std::move(base.memory));
    return base;
  }
  std::unique_ptr<stream_ordered_resource> make(stream_ordered_options base = {}) {
    return std::make_unique<stream_ordered_resource>(events, options(std::move(base)));
  }

  std::shared_ptr<testing::counting_backend> counting;
  std::shared_ptr<testing::fault_injecting_backend> faults;
  std::shared_ptr<testing::manual_event_backend> events;
  report_recorder reports;
};

// mapped == live blocks + cached, and the backend maps exactly what the resource says: its
// chunks, and its alias ranges (which hold no physical memory of their own).
// Physical bytes are left out when threads created and released memory concurrently:
// counting_backend forgets a released handle after the release returns, by which time
// another thread may have been given the same memfd number by create().
enum class physical_count { checked, unreliable };
inline bool bytes_add_up(const stream_ordered_resource& resource,
                         const testing::counting_backend& counting,
                         physical_count physical = physical_count::checked) {
  const stream_ordered_stats stats = resource.stats();
  const testing::live_objects live = counting.live();
  UNSCOPED_INFO("mapped " << stats.mapped_bytes << ", live blocks " << stats.live_block_bytes
                          << ", cached " << stats.cached_bytes << ", alias ranges "
                          << stats.alias_bytes << "; backend mapped " << live.mapped_bytes
                          << ", physical " << live.physical_bytes);
  return stats.mapped_bytes == stats.live_block_bytes + stats.cached_bytes &&
         live.mapped_bytes == stats.mapped_bytes + stats.alias_bytes &&
         (physical == physical_count::unreliable || live.physical_bytes == stats.mapped_bytes);
}

}  // namespace vmm_pmr::test
