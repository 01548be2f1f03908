// stream_ordered_resource when the driver fails, beyond the sweep of fault_sweep_test.cpp
// (which fails every call of growth, trim and destruction in turn): a range whose unmap
// failed is never mapped over, and a failed reservation fails construction cleanly.
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>

#include "support/fault_fixtures.hpp"
#include "support/printers.hpp"
#include "support/stream_ordered_harness.hpp"
#include "vmm_pmr/core/cleanup_errors.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"

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
