// Streams the user destroys while the pool holds what was freed on them, and handles the
// driver gives to new streams. manual_event_backend answers a call on a destroyed stream as
// the driver does (CUDA_ERROR_CONTEXT_IS_DESTROYED), so a call the pool must not make fails
// the test; synchronize_device() stands for waiting for all work, a destroyed stream's too.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_exception.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <cstddef>

#include "support/stream_ordered_harness.hpp"
#include "vmm_pmr/core/cleanup_errors.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"

using Catch::Matchers::ContainsSubstring;
using vmm_pmr::stream_ordered_options;
using vmm_pmr::stream_view;
using vmm_pmr::test::granule_chunks;
using vmm_pmr::test::stream_ordered_harness;
using vmm_pmr::test::test_stream;
using vmm_pmr::test::two_mib;

namespace {

constexpr std::size_t mib = std::size_t{1} << 20;

const stream_view stream_a = test_stream(0xa0);
const stream_view stream_b = test_stream(0xb0);

}  // namespace

TEST_CASE("a block freed on a stream destroyed since serves another stream once the device is done",
          "[stream_ordered][destroyed_stream]") {
  stream_ordered_harness harness;
  auto resource = harness.make(granule_chunks());
  void* freed = resource->allocate(two_mib, stream_a);
  resource->deallocate(freed, two_mib, stream_a);
  harness.events->destroy_stream(stream_a);

  void* reused = resource->allocate(two_mib, stream_b);  // no call on stream_a's handle
  CHECK(reused == freed);
  CHECK(harness.events->device_synchronizations() == 1);
  CHECK(harness.events->waits().empty());
  CHECK(resource->stats().chunks_mapped == 1);
  CHECK(resource->stats().streams_gone == 1);
  CHECK(resource->stats().device_synchronizations == 1);
  CHECK(resource->check_invariants().empty());
  resource->deallocate(reused, two_mib, stream_b);
}

TEST_CASE("a destroyed stream's blocks are not waited for while a smaller request fits elsewhere",
          "[stream_ordered][destroyed_stream]") {
  stream_ordered_harness harness;
  auto resource = harness.make(granule_chunks());
  void* kept = resource->allocate(mib, stream_b);
  void* freed = resource->allocate(mib, stream_a);
  resource->deallocate(freed, mib, stream_a);
  harness.events->destroy_stream(stream_a);
  resource->deallocate(kept, mib, stream_b);

  void* again = resource->allocate(mib, stream_b);  // stream_b's own block
  CHECK(again == kept);
  CHECK(harness.events->device_synchronizations() == 0);
  resource->deallocate(again, mib, stream_b);
}

TEST_CASE(
    "what an event seen complete covers needs no wait for the device after its stream is gone",
    "[stream_ordered][destroyed_stream]") {
  stream_ordered_harness harness;
  stream_ordered_options options = granule_chunks();
  options.release_threshold = 0;  // each free then records an event on its stream
  auto resource = harness.make(options);
  void* freed = resource->allocate(two_mib, stream_a);
  resource->deallocate(freed, two_mib, stream_a);
  REQUIRE(harness.events->records_on(stream_a) == 1);
  harness.events->complete_all(stream_a);
  harness.events->destroy_stream(stream_a);

  void* reused = resource->allocate(two_mib, stream_b);
  CHECK(reused == freed);
  CHECK(harness.events->device_synchronizations() == 0);
  CHECK(resource->stats().completed_stream_reuses == 1);
  CHECK(resource->check_invariants().empty());
  resource->deallocate(reused, two_mib, stream_b);
}

TEST_CASE("a new stream with a destroyed stream's handle does not take its blocks as its own",
          "[stream_ordered][destroyed_stream]") {
  stream_ordered_harness harness;
  auto resource = harness.make(granule_chunks());
  void* freed = resource->allocate(two_mib, stream_a);
  resource->deallocate(freed, two_mib, stream_a);
  harness.events->destroy_stream(stream_a);
  harness.events->create_stream(stream_a);  // the handle now names another stream

  // Not the block cached for this size: the slow path, where the pool asks the driver.
  void* larger = resource->allocate(2 * two_mib, stream_a);
  CHECK(resource->stats().streams_gone == 1);
  void* reused = resource->allocate(two_mib, stream_a);
  CHECK(reused == freed);
  CHECK(harness.events->device_synchronizations() == 1);  // taken only after the device's work
  CHECK(resource->check_invariants().empty());
  resource->deallocate(reused, two_mib, stream_a);
  resource->deallocate(larger, 2 * two_mib, stream_a);
}

TEST_CASE(
    "allocate on a destroyed stream is invalid_argument naming it, and the resource carries on",
    "[stream_ordered][destroyed_stream][bad_input]") {
  stream_ordered_harness harness;
  auto resource = harness.make(granule_chunks());
  SECTION("a stream the pool never saw") {}
  SECTION("a stream the pool used before") {
    resource->deallocate(resource->allocate(mib, stream_a), mib, stream_a);
  }
  harness.events->destroy_stream(stream_a);

  CHECK_THROWS_MATCHES(resource->allocate(two_mib, stream_a), vmm_pmr::invalid_argument,
                       Catch::Matchers::MessageMatches(ContainsSubstring("stream 0xa0") &&
                                                       ContainsSubstring("not a live stream") &&
                                                       ContainsSubstring("allocate(2 MiB")));
  void* fine = resource->allocate(two_mib, stream_b);
  CHECK(fine != nullptr);
  CHECK(resource->check_invariants().empty());
  resource->deallocate(fine, two_mib, stream_b);
}

TEST_CASE("a block freed on a destroyed stream is kept until the device is done, then reused",
          "[stream_ordered][destroyed_stream]") {
  stream_ordered_harness harness;
  auto resource = harness.make(granule_chunks());
  void* block = resource->allocate(two_mib, stream_b);
  harness.events->destroy_stream(stream_a);
  resource->deallocate(block, two_mib, stream_a);  // on a handle that names no stream
  CHECK(harness.reports.bad_deallocations.empty());
  CHECK(resource->stats().live_count == 0);

  void* reused = resource->allocate(two_mib, stream_b);
  CHECK(reused == block);
  CHECK(harness.events->device_synchronizations() == 1);
  CHECK(resource->check_invariants().empty());
  resource->deallocate(reused, two_mib, stream_b);
}

TEST_CASE("a live block of a destroyed stream is freed by pointer, and reused after the device",
          "[stream_ordered][destroyed_stream]") {
  stream_ordered_harness harness;
  auto resource = harness.make(granule_chunks());
  void* live = resource->allocate(two_mib, stream_a);
  void* freed = resource->allocate(two_mib, stream_a);
  resource->deallocate(freed, two_mib, stream_a);
  harness.events->destroy_stream(stream_a);
  resource->trim();  // finds stream_a gone: its live block goes to the orphans
  REQUIRE(resource->stats().streams_gone == 1);
  CHECK(resource->check_invariants().empty());

  resource->deallocate_by_pointer(live);
  CHECK(harness.reports.bad_deallocations.empty());
  void* reused = resource->allocate(two_mib, stream_b);
  CHECK(reused == live);
  CHECK(harness.events->device_synchronizations() == 2);  // trim's, and this request's
  CHECK(resource->check_invariants().empty());
  resource->deallocate(reused, two_mib, stream_b);
}

TEST_CASE("trim releases what a destroyed stream freed after waiting for the device",
          "[stream_ordered][destroyed_stream][trim]") {
  stream_ordered_harness harness;
  auto resource = harness.make(granule_chunks());
  void* block = resource->allocate(two_mib, stream_a);
  resource->deallocate(block, two_mib, stream_a);
  harness.events->destroy_stream(stream_a);

  CHECK(resource->trim() == two_mib);
  CHECK(harness.events->device_synchronizations() == 1);
  CHECK(harness.counting->live().mapped_bytes == 0);
  CHECK(resource->check_invariants().empty());
}

TEST_CASE("settle on a destroyed stream waits for the device instead of the stream",
          "[stream_ordered][destroyed_stream]") {
  stream_ordered_harness harness;
  auto resource = harness.make(granule_chunks());
  void* block = resource->allocate(two_mib, stream_a);
  resource->deallocate(block, two_mib, stream_a);
  harness.events->destroy_stream(stream_a);

  CHECK_NOTHROW(resource->settle(stream_a));
  CHECK(harness.events->device_synchronizations() == 1);
  void* reused = resource->allocate(two_mib, stream_b);
  CHECK(reused == block);
  CHECK(resource->stats().settled_reuses == 1);
  resource->deallocate(reused, two_mib, stream_b);
}

TEST_CASE("a resource destroyed after one of its streams waits for the device and unmaps all",
          "[stream_ordered][destroyed_stream]") {
  stream_ordered_harness harness;
  const std::size_t cleanup_errors = vmm_pmr::cleanup_error_count();
  {
    auto resource = harness.make(granule_chunks());
    void* block = resource->allocate(two_mib, stream_a);
    resource->deallocate(block, two_mib, stream_a);
    harness.events->destroy_stream(stream_a);
  }
  CHECK(vmm_pmr::cleanup_error_count() == cleanup_errors);
  CHECK(harness.events->device_synchronizations() == 1);
  CHECK(harness.counting->live().mapped_bytes == 0);
  CHECK(harness.counting->live().physical_bytes == 0);
}

TEST_CASE(
    "a bounded pool's alias range last used by a destroyed stream is unmapped after the device",
    "[stream_ordered][destroyed_stream][footprint]") {
  stream_ordered_harness harness;
  stream_ordered_options options = granule_chunks();
  options.footprint_limit = 1.0;
  auto resource = harness.make(options);
  // Two chunks apart, then a request for both: an alias range maps them back to back.
  void* low = resource->allocate(two_mib, stream_a);
  void* middle = resource->allocate(two_mib, stream_a);
  void* high = resource->allocate(two_mib, stream_a);
  resource->deallocate(low, two_mib, stream_a);
  resource->deallocate(high, two_mib, stream_a);
  harness.events->mark_idle(stream_a);
  void* joined = resource->allocate(2 * two_mib, stream_a);
  harness.events->mark_busy(stream_a);
  REQUIRE(resource->stats().alias_ranges == 1);
  resource->deallocate(joined, 2 * two_mib, stream_a);
  resource->deallocate(middle, two_mib, stream_a);
  harness.events->destroy_stream(stream_a);

  CHECK(resource->trim() == 3 * two_mib);
  CHECK(resource->stats().alias_ranges == 0);
  CHECK(harness.events->device_synchronizations() == 1);
  CHECK(harness.counting->live().mapped_bytes == 0);
  CHECK(resource->check_invariants().empty());
}
