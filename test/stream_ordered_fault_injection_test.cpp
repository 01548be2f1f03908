// stream_ordered_resource when the driver fails: every call of growth fails in turn, and
// the resource must be exactly as before and still allocate; failures while trimming are
// reported and the resource carries on.
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/matchers/catch_matchers_exception.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "support/fault_fixtures.hpp"
#include "support/printers.hpp"
#include "support/stream_ordered_harness.hpp"
#include "vmm_pmr/cleanup_errors.hpp"
#include "vmm_pmr/error.hpp"
#include "vmm_pmr/stream_ordered_resource.hpp"

using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::MessageMatches;
using vmm_pmr::stream_ordered_options;
using vmm_pmr::test::cleanup_report_counter;
using vmm_pmr::test::stream_ordered_harness;
using vmm_pmr::test::test_stream;
using vmm_pmr::test::two_mib;
using vmm_pmr::testing::backend_call;
using vmm_pmr::testing::injected_failure;

namespace {

const vmm_pmr::stream_view stream_a = test_stream(0xa0);

}  // namespace

TEST_CASE("a driver error at any step of growth leaves the resource unchanged and usable",
          "[stream_ordered][fault_injection]") {
  stream_ordered_harness harness;
  auto resource = harness.make();
  // Some state worth preserving: a live block, a cached one, and a free tail that a
  // growing request extends (and must give back when growth fails).
  void* kept = resource->allocate(1000, stream_a);
  void* cached = resource->allocate(4096, stream_a);
  resource->deallocate(cached, 4096, stream_a);

  const std::size_t growth_calls = 3;  // create, map, set access
  const std::size_t calls_before = harness.faults->total_calls();
  void* probe = resource->allocate(3 * two_mib, stream_a);
  REQUIRE(harness.faults->total_calls() - calls_before == growth_calls);
  resource->deallocate(probe, 3 * two_mib, stream_a);
  REQUIRE(resource->trim() > 0);

  for (std::size_t n = 1; n <= growth_calls; ++n) {
    CAPTURE(n);
    const auto stats_before = resource->stats();
    const auto live_before = harness.counting->live();
    harness.faults->fail_nth_call(n, injected_failure::driver_error);
    CHECK_THROWS_MATCHES(resource->allocate(3 * two_mib, stream_a), vmm_pmr::driver_error,
                         MessageMatches(ContainsSubstring("INJECTED_FAILURE") &&
                                        ContainsSubstring("stream_ordered_resource::allocate")));
    CHECK(harness.faults->fired());
    CHECK(resource->stats() == stats_before);
    CHECK(harness.counting->live() == live_before);

    void* after = resource->allocate(3 * two_mib, stream_a);
    CHECK(vmm_pmr::test::bytes_add_up(*resource, *harness.counting));
    resource->deallocate(after, 3 * two_mib, stream_a);
    resource->trim();
  }
  resource->deallocate(kept, 1000, stream_a);
}

TEST_CASE("out of memory at any step of growth is answered by trimming and retrying",
          "[stream_ordered][fault_injection]") {
  stream_ordered_harness harness;
  auto resource = harness.make();
  void* kept = resource->allocate(1000, stream_a);
  const auto step = GENERATE(backend_call::create, backend_call::map);
  CAPTURE(vmm_pmr::testing::to_string(step));
  harness.faults->fail_nth(step, 1, injected_failure::out_of_memory);
  void* grown = resource->allocate(3 * two_mib, stream_a);
  CHECK(harness.faults->fired());
  CHECK(grown != nullptr);
  CHECK(vmm_pmr::test::bytes_add_up(*resource, *harness.counting));
  resource->deallocate(grown, 3 * two_mib, stream_a);
  resource->deallocate(kept, 1000, stream_a);
}

TEST_CASE("a failure while trimming is reported and the resource carries on",
          "[stream_ordered][fault_injection][trim]") {
  cleanup_report_counter reports;  // outlives the resource, whose end reports the lost range
  stream_ordered_harness harness;
  stream_ordered_options options;
  options.min_chunk_size = two_mib;
  options.max_chunk_size = two_mib;
  auto resource = harness.make(options);
  const auto undo = GENERATE(backend_call::unmap, backend_call::release);
  CAPTURE(vmm_pmr::testing::to_string(undo));
  void* block = resource->allocate(two_mib, stream_a);
  resource->deallocate(block, two_mib, stream_a);
  harness.faults->fail_nth(undo, 1, injected_failure::driver_error);
  CHECK(resource->trim() == two_mib);  // must not throw
  CHECK(harness.faults->fired());
  CHECK(reports.reports >= 1);
  CHECK(resource->stats().mapped_bytes == 0);

  // Growth still works; a range that may still be mapped is never mapped over.
  void* next = resource->allocate(two_mib, stream_a);
  CHECK(next != nullptr);
  if (undo == backend_call::unmap) CHECK(next != block);
  resource->deallocate(next, two_mib, stream_a);
}

TEST_CASE("a failure reserving the address range fails construction and leaves nothing",
          "[stream_ordered][fault_injection]") {
  stream_ordered_harness harness;
  const auto failure = GENERATE(injected_failure::out_of_memory, injected_failure::driver_error);
  harness.faults->fail_nth(backend_call::reserve_address_range, 1, failure);
  CHECK_THROWS(harness.make());
  CHECK(harness.faults->fired());
  CHECK(harness.counting->live() == vmm_pmr::testing::live_objects{});
}
