// The stream-ordering layer under stream_ordered_resource: stream_view, the backends'
// event primitives, the event handle, and manual_event_backend, the test double every
// ordering test relies on (if it lies, those tests pass for the wrong reason).
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <functional>
#include <memory>
#include <unordered_set>

#include "support/backends_under_test.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/core/stream_view.hpp"
#include "vmm_pmr/handles/event.hpp"
#include "vmm_pmr/testing/manual_event_backend.hpp"

using Catch::Matchers::ContainsSubstring;
using vmm_pmr::stream_view;
using vmm_pmr::testing::manual_event_backend;

namespace {

stream_view stream_named(std::uintptr_t id) {
  return stream_view(reinterpret_cast<CUstream_st*>(id));
}

std::shared_ptr<manual_event_backend> make_manual_backend() {
  return std::make_shared<manual_event_backend>(vmm_pmr::test::make_test_host_backend());
}

}  // namespace

TEST_CASE("stream_view treats CU_STREAM_LEGACY and 0 as the same stream", "[stream_view]") {
  const stream_view zero;
  const stream_view legacy = stream_named(0x1);
  CHECK(legacy == zero);
  CHECK(legacy.is_legacy_default());
  CHECK(legacy.get() == nullptr);
  CHECK(std::hash<stream_view>{}(legacy) == std::hash<stream_view>{}(zero));
  CHECK(stream_view::legacy_default() == zero);
}

TEST_CASE("stream_view names the per-thread default stream apart from the legacy one",
          "[stream_view]") {
  const stream_view per_thread = stream_view::per_thread_default();
  CHECK(per_thread.is_per_thread_default());
  CHECK(per_thread.id() == 0x2);
  CHECK_FALSE(per_thread == stream_view::legacy_default());
  CHECK(vmm_pmr::to_string(per_thread) == "per-thread default stream");
  CHECK(vmm_pmr::to_string(stream_view{}) == "legacy default stream");
  CHECK_THAT(vmm_pmr::to_string(stream_named(0x7f00)), ContainsSubstring("0x7f00"));
}

TEST_CASE("stream_view hashes user streams apart", "[stream_view]") {
  std::unordered_set<stream_view> streams{stream_named(0x1000), stream_named(0x2000),
                                          stream_named(0x1000), stream_view{}};
  CHECK(streams.size() == 3);
}

BACKEND_TEST_CASE("an event that was never recorded is complete", "[stream_primitives]") {
  auto driver = TestType::make();
  vmm_pmr::event done(*driver);
  CHECK(done.complete());
  done.synchronize();
}

BACKEND_TEST_CASE("an event recorded on an idle stream completes, and a stream can wait for it",
                  "[stream_primitives]") {
  auto driver = TestType::make();
  vmm_pmr::event done(*driver);
  done.record(stream_view{});
  done.synchronize();
  CHECK(done.complete());
  done.make_stream_wait(stream_view::per_thread_default());
  driver->synchronize_stream(stream_view::per_thread_default());
  CHECK_FALSE(driver->stream_is_capturing(stream_view{}));
}

TEST_CASE("the host backend refuses an event it does not know", "[stream_primitives]") {
  auto driver = vmm_pmr::test::make_test_host_backend();
  const vmm_pmr::event_handle made = driver->create_event();
  driver->destroy_event(made);
  CHECK_THROWS_AS(driver->destroy_event(made), vmm_pmr::driver_error);
  CHECK_THROWS_AS(driver->record_event(made, stream_view{}), vmm_pmr::driver_error);
  CHECK_THROWS_AS(driver->event_complete(12345), vmm_pmr::driver_error);
}

TEST_CASE("the event handle destroys exactly the event it made, once", "[stream_primitives]") {
  auto manual = make_manual_backend();
  {
    vmm_pmr::event first(*manual);
    vmm_pmr::event second = std::move(first);
    CHECK_FALSE(first);
    CHECK(manual->live_events() == 1);
    vmm_pmr::event third(*manual);
    third = std::move(second);
    CHECK(manual->live_events() == 1);
  }
  CHECK(manual->live_events() == 0);
}

TEST_CASE("manual events stay incomplete until the test completes them", "[manual_event_backend]") {
  auto manual = make_manual_backend();
  const stream_view a = stream_named(0xa0);
  vmm_pmr::event first(*manual);
  vmm_pmr::event second(*manual);
  first.record(a);
  second.record(a);
  CHECK_FALSE(first.complete());
  manual->complete(first.handle());
  CHECK(first.complete());
  CHECK_FALSE(second.complete());
  manual->complete_all(a);
  CHECK(second.complete());
  CHECK(manual->records_on(a) == 2);
}

TEST_CASE("synchronizing a manual event completes it", "[manual_event_backend]") {
  auto manual = make_manual_backend();
  vmm_pmr::event done(*manual);
  done.record(stream_named(0xa0));
  done.synchronize();
  CHECK(done.complete());
  CHECK(manual->completed_through(stream_named(0xa0)) > 0);
}

TEST_CASE("events recorded on an idle manual stream complete at once", "[manual_event_backend]") {
  auto manual = make_manual_backend();
  const stream_view a = stream_named(0xa0);
  vmm_pmr::event done(*manual);
  manual->mark_idle(a);
  done.record(a);
  CHECK(done.complete());
  manual->mark_busy(a);
  done.record(a);
  CHECK_FALSE(done.complete());
}

TEST_CASE("manual waits are recorded with the stream the event was recorded on",
          "[manual_event_backend]") {
  auto manual = make_manual_backend();
  const stream_view a = stream_named(0xa0);
  const stream_view b = stream_named(0xb0);
  vmm_pmr::event done(*manual);
  done.record(a);
  done.make_stream_wait(b);
  REQUIRE(manual->waits().size() == 1);
  const auto wait = manual->waits().front();
  CHECK(wait.waiting == b);
  CHECK(wait.recorded_on == a);
  CHECK(wait.recorded_at < wait.at);
  CHECK_FALSE(wait.event_was_complete);
  CHECK(manual->waited(b, a));
  CHECK_FALSE(manual->waited(a, b));
}

TEST_CASE("manual capture is reported per stream, and recording during it is a violation",
          "[manual_event_backend]") {
  auto manual = make_manual_backend();
  const stream_view a = stream_named(0xa0);
  manual->begin_capture(a);
  CHECK(manual->stream_is_capturing(a));
  CHECK_FALSE(manual->stream_is_capturing(stream_named(0xb0)));
  vmm_pmr::event done(*manual);
  done.record(a);
  CHECK(manual->capture_violations() == 1);
  manual->end_capture(a);
  CHECK_FALSE(manual->stream_is_capturing(a));
}

TEST_CASE("manual_event_backend counts every stream call and forwards the VMM ones",
          "[manual_event_backend]") {
  auto manual = make_manual_backend();
  const std::size_t before = manual->stream_calls();
  const auto handle = manual->create(vmm_pmr::test::two_mib, {});
  manual->release(handle);
  CHECK(manual->stream_calls() == before);
  CHECK_FALSE(manual->stream_is_capturing(stream_view{}));
  CHECK(manual->stream_calls() == before + 1);
}
