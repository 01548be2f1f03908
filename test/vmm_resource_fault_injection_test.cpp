// Every step of vmm_resource::allocate fails in turn; nothing may be left behind.
//
// The sweep first counts the backend calls one allocate makes, then fails the 1st,
// 2nd, ... of them, as out of memory and as a generic driver error, and checks the
// exception, that the backend holds exactly what it held before, that the registry
// and statistics did not move, and that the resource still allocates.
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/matchers/catch_matchers_exception.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "support/backends_under_test.hpp"
#include "support/fault_fixtures.hpp"
#include "support/printers.hpp"
#include "support/resource_fixtures.hpp"
#include "vmm_pmr/cleanup_errors.hpp"
#include "vmm_pmr/error.hpp"
#include "vmm_pmr/testing/counting_backend.hpp"
#include "vmm_pmr/testing/fault_injecting_backend.hpp"
#include "vmm_pmr/vmm_resource.hpp"

using Catch::Matchers::ContainsSubstring;
using vmm_pmr::test::cleanup_report_counter;
using vmm_pmr::test::decorate;
using vmm_pmr::testing::injected_failure;

BACKEND_TEST_CASE("a failure at any step of allocate rolls back completely",
                  "[vmm_resource][fault_injection]") {
  auto [counting, faults] = decorate(TestType::make());
  vmm_pmr::vmm_resource resource(faults);
  constexpr std::size_t bytes = 3 * vmm_pmr::test::two_mib + 5;

  void* keep = resource.allocate(100);  // something live that must survive every failure
  const std::size_t before_calls = faults->total_calls();
  resource.deallocate(resource.allocate(bytes), bytes);
  const std::size_t allocate_calls = 4;  // create, reserve, map, set access
  REQUIRE(faults->total_calls() - before_calls == allocate_calls + 3);  // + unmap, free, release

  const auto baseline_live = counting->live();
  const auto failure = GENERATE(injected_failure::out_of_memory, injected_failure::driver_error);
  for (std::size_t n = 1; n <= allocate_calls; ++n) {
    CAPTURE(n, failure == injected_failure::out_of_memory ? "out of memory" : "driver error");
    const auto baseline_stats = resource.stats();
    faults->fail_nth_call(n, failure);
    if (failure == injected_failure::out_of_memory) {
      CHECK_THROWS_MATCHES(resource.allocate(bytes), vmm_pmr::out_of_memory,
                           Catch::Matchers::MessageMatches(ContainsSubstring("6.0 MiB") &&
                                                           ContainsSubstring("device 0")));
    } else {
      CHECK_THROWS_MATCHES(resource.allocate(bytes), vmm_pmr::driver_error,
                           Catch::Matchers::MessageMatches(ContainsSubstring("INJECTED_FAILURE") &&
                                                           ContainsSubstring("allocate(6.0 MiB")));
    }
    CHECK(faults->fired());
    CHECK(counting->live() == baseline_live);
    CHECK(resource.stats() == baseline_stats);
    CHECK(resource.live_allocations().size() == 1);

    void* after = resource.allocate(bytes);
    CHECK(resource.find(after));
    resource.deallocate(after, bytes);
    CHECK(counting->live() == baseline_live);
  }
  resource.deallocate(keep, 100);
}

BACKEND_TEST_CASE("a failure while deallocating is reported and the resource carries on",
                  "[vmm_resource][fault_injection]") {
  auto [counting, faults] = decorate(TestType::make());
  vmm_pmr::vmm_resource resource(faults);
  cleanup_report_counter reports;
  const auto undo =
      GENERATE(vmm_pmr::testing::backend_call::unmap, vmm_pmr::testing::backend_call::release,
               vmm_pmr::testing::backend_call::free_address_range);
  CAPTURE(vmm_pmr::testing::to_string(undo));
  void* pointer = resource.allocate(1000);
  faults->fail_nth(undo, 1, injected_failure::driver_error);
  resource.deallocate(pointer, 1000);  // must not throw
  CHECK(faults->fired());
  // A failed unmap also makes freeing the still-mapped range fail: one report each.
  const std::size_t expected = undo == vmm_pmr::testing::backend_call::unmap ? 2 : 1;
  if constexpr (!TestType::is_gpu) CHECK(reports.reports == expected);
  CHECK(reports.reports >= 1);
  CHECK(resource.stats().live_count == 0);
  CHECK_FALSE(resource.find(pointer));
  const std::size_t reports_before = reports.reports;
  void* next = resource.allocate(1000);
  resource.deallocate(next, 1000);
  CHECK(reports.reports == reports_before);
}
