// Every backend call of grow (in place, into address space reserved ahead, by remapping)
// and of shrink fails in turn, as out of memory and as a generic driver error.
//
// A call that does something (reserve, create, map, set access) makes the operation throw
// and leaves the allocation exactly as it was: pointer, chunks and their physical handles,
// requested and mapped size, contents, access, statistics, and the backend's live
// objects. A call that undoes something after the change was made (giving back a
// reservation the driver placed elsewhere, unmapping the old addresses, releasing a
// shrunk tail) cannot throw: the change stands and the failure goes to the cleanup-error
// handler.
//
// Whether a failure throws follows from the kind of call that failed, never from its
// number. The sweep counts the operation's calls by running it once, so the path it takes
// must not depend on where the driver places reservations: growth into reserved address space,
// and growth by remapping through no_room_behind_backend (every hint refused), run on
// every backend; growth behind via a hint runs on the host backend, which honours a hint
// at a free address every time (the CUDA driver does not).
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <algorithm>
#include <cstddef>
#include <functional>
#include <optional>

#include "support/backends_under_test.hpp"
#include "support/fault_fixtures.hpp"
#include "support/growth_fixtures.hpp"
#include "support/printers.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/resource/vmm_resource.hpp"

using Catch::Matchers::ContainsSubstring;
using vmm_pmr::test::cleanup_report_counter;
using vmm_pmr::test::decorate_for_growth;
using vmm_pmr::test::decorate_for_relocation;
using vmm_pmr::test::growth_backend;
using vmm_pmr::test::holds_pattern;
using vmm_pmr::test::two_mib;
using vmm_pmr::test::write_pattern;
using vmm_pmr::testing::backend_call;
using vmm_pmr::testing::injected_failure;

namespace {

struct scenario {
  std::size_t bytes = 0;  // the allocation's size when the operation starts
  std::function<void*(vmm_pmr::vmm_resource&)> make;
  // Host backend only: reserve the address behind the allocation, as a hint.
  bool take_address_behind = false;
  // Changes the allocation at `pointer` (updating it) and returns its new size.
  std::function<std::size_t(vmm_pmr::vmm_resource&, void*& pointer)> operation;
};

struct sweep_counts {
  std::size_t calls = 0;  // backend calls the operation makes
  std::size_t threw = 0;  // failures that made it throw
};

// Calls that undo something once the change is made: their failures are reported.
bool is_undo(backend_call call) {
  return call == backend_call::release || call == backend_call::unmap ||
         call == backend_call::free_address_range;
}

bool same_chunks(const vmm_pmr::allocation_info& a, const vmm_pmr::allocation_info& b) {
  if (a.chunks.size() != b.chunks.size()) return false;
  for (std::size_t i = 0; i < a.chunks.size(); ++i) {
    if (a.chunks[i].base != b.chunks[i].base || a.chunks[i].size != b.chunks[i].size ||
        a.chunks[i].handle != b.chunks[i].handle) {
      return false;
    }
  }
  return true;
}

// One run: make the allocation, fail the n-th call (none when 0), run the operation,
// check, free. Returns whether the operation threw.
bool run_once(const growth_backend& stack, vmm_pmr::vmm_resource& resource, const scenario& s,
              std::size_t n, injected_failure failure, cleanup_report_counter& reports) {
  void* pointer = s.make(resource);
  write_pattern(resource.driver(), pointer, 0, s.bytes, 5);
  const vmm_pmr::allocation_info before = *resource.find(pointer);
  vmm_pmr::address blocker = 0;
  if (s.take_address_behind) {
    const vmm_pmr::address end = before.base + before.mapped_bytes;
    blocker = stack.faults->reserve_address_range(two_mib, 0, end);
    REQUIRE(blocker == end);
  }
  const auto live_before = stack.counting->live();
  const auto stats_before = resource.stats();
  const std::size_t reports_before = reports.reports;

  std::size_t size = s.bytes;
  bool threw = false;
  if (n != 0) stack.faults->fail_nth_call(n, failure);
  try {
    size = s.operation(resource, pointer);
  } catch (const vmm_pmr::out_of_memory& oom) {
    threw = true;
    CHECK(failure == injected_failure::out_of_memory);
    CHECK_THAT(oom.what(), ContainsSubstring("vmm_resource::"));
  } catch (const vmm_pmr::driver_error& error) {
    threw = true;
    CHECK(failure == injected_failure::driver_error);
    CHECK_THAT(error.what(), ContainsSubstring("INJECTED_FAILURE"));
    CHECK_THAT(error.detail(), ContainsSubstring("vmm_resource::"));
  }
  if (n != 0) {
    const std::optional<backend_call> failed = stack.faults->fired_call();
    REQUIRE(failed.has_value());
    CAPTURE(vmm_pmr::testing::to_string(*failed));
    CHECK(threw == !is_undo(*failed));
  }
  stack.faults->disarm();

  if (threw) {
    const auto after = resource.find(pointer);
    REQUIRE(after);
    CHECK(after->base == before.base);
    CHECK(after->requested_bytes == before.requested_bytes);
    CHECK(after->mapped_bytes == before.mapped_bytes);
    CHECK(same_chunks(*after, before));
    CHECK(stack.counting->live() == live_before);
    CHECK(resource.stats() == stats_before);
    CHECK(resource.access(pointer, 0) == vmm_pmr::access_mode::read_write);
    CHECK(reports.reports == reports_before);
  } else if (n != 0) {
    CHECK(reports.reports > reports_before);  // an undo failed: reported, not thrown
  }
  CHECK(holds_pattern(resource.driver(), pointer, 0, std::min(size, s.bytes), 5));

  resource.deallocate(pointer, size);
  if (blocker != 0) stack.faults->free_address_range(blocker, two_mib);
  return threw;
}

sweep_counts sweep(const growth_backend& stack, vmm_pmr::vmm_resource& resource, const scenario& s,
                   injected_failure failure) {
  cleanup_report_counter reports;
  sweep_counts counts;
  REQUIRE_FALSE(run_once(stack, resource, s, 0, failure, reports));
  CHECK(reports.reports == 0);

  // Counts the operation's calls alone (not the setup's, nor the final free's).
  void* pointer = s.make(resource);
  vmm_pmr::address blocker = 0;
  if (s.take_address_behind) {
    const auto info = *resource.find(pointer);
    const vmm_pmr::address end = info.base + info.mapped_bytes;
    blocker = stack.faults->reserve_address_range(two_mib, 0, end);
    REQUIRE(blocker == end);
  }
  const std::size_t before_operation = stack.faults->total_calls();
  const std::size_t size = s.operation(resource, pointer);
  counts.calls = stack.faults->total_calls() - before_operation;
  REQUIRE(counts.calls > 0);
  resource.deallocate(pointer, size);
  if (blocker != 0) stack.faults->free_address_range(blocker, two_mib);

  for (std::size_t n = 1; n <= counts.calls; ++n) {
    CAPTURE(n, failure == injected_failure::out_of_memory ? "out of memory" : "driver error");
    if (run_once(stack, resource, s, n, failure, reports)) ++counts.threw;
  }
  return counts;
}

}  // namespace

TEST_CASE(
    "on the host backend, a failure at any step of growth behind via a hint leaves the "
    "allocation as it was",
    "[vmm_resource][growth][fault_injection]") {
  auto stack = decorate_for_growth(on_host::make());
  vmm_pmr::vmm_resource resource(stack.faults);
  const auto failure = GENERATE(injected_failure::out_of_memory, injected_failure::driver_error);
  scenario s;
  s.bytes = 2 * two_mib;
  s.make = [&](vmm_pmr::vmm_resource& r) { return r.allocate(s.bytes); };
  s.operation = [&](vmm_pmr::vmm_resource& r, void*& p) {
    void* grown = r.grow(p, s.bytes, 5 * two_mib);
    CHECK(grown == p);
    p = grown;
    return 5 * two_mib;
  };
  // Reserve behind, create, map, set access: nothing to undo.
  const sweep_counts counts = sweep(stack, resource, s, failure);
  CHECK(counts.threw == counts.calls);
}

BACKEND_TEST_CASE(
    "a failure at any step of growth into reserved address space leaves the allocation as it was",
    "[vmm_resource][growth][fault_injection]") {
  auto stack = decorate_for_growth(TestType::make());
  vmm_pmr::vmm_resource resource(stack.faults);
  const auto failure = GENERATE(injected_failure::out_of_memory, injected_failure::driver_error);
  scenario s;
  s.bytes = 2 * two_mib;
  s.make = [&](vmm_pmr::vmm_resource& r) {
    return r.allocate_with_address_space(s.bytes, 8 * two_mib);
  };
  s.operation = [&](vmm_pmr::vmm_resource& r, void*& p) {
    void* grown = r.grow(p, s.bytes, 5 * two_mib);
    CHECK(grown == p);
    p = grown;
    return 5 * two_mib;
  };
  // Create, map, set access: nothing to undo.
  const sweep_counts counts = sweep(stack, resource, s, failure);
  CHECK(counts.threw == counts.calls);
}

BACKEND_TEST_CASE("a failure at any step of growth by remapping leaves the allocation as it was",
                  "[vmm_resource][growth][fault_injection]") {
  // Every hint refused: growth past the reserved space moves, on every backend.
  auto stack = decorate_for_relocation(TestType::make());
  vmm_pmr::vmm_resource resource(stack.faults);
  const auto failure = GENERATE(injected_failure::out_of_memory, injected_failure::driver_error);
  scenario s;
  s.bytes = 3 * two_mib;
  // Two chunks in one reservation, used up.
  s.make = [](vmm_pmr::vmm_resource& r) {
    void* p = r.allocate_with_address_space(2 * two_mib, 3 * two_mib);
    REQUIRE(r.grow(p, 2 * two_mib, 3 * two_mib) == p);
    REQUIRE(r.find(p)->chunks.size() == 2);
    return p;
  };
  s.operation = [&](vmm_pmr::vmm_resource& r, void*& p) {
    void* grown = r.grow(p, s.bytes, 5 * two_mib);
    CHECK(grown != p);
    p = grown;
    return 5 * two_mib;
  };
  // Reserve behind (placed elsewhere), give it back, reserve a larger range, map the two
  // chunks there, create and map the new one, set access once; then unmap the two old
  // mappings and free the old reservation: some failures throw, some are reported.
  const sweep_counts counts = sweep(stack, resource, s, failure);
  CHECK(counts.threw > 0);
  CHECK(counts.threw < counts.calls);
}

TEST_CASE(
    "on the host backend, a failure at any step of remapping an allocation of two "
    "reservations leaves it as it was",
    "[vmm_resource][growth][fault_injection]") {
  auto stack = decorate_for_growth(on_host::make());
  vmm_pmr::vmm_resource resource(stack.faults);
  const auto failure = GENERATE(injected_failure::out_of_memory, injected_failure::driver_error);
  scenario s;
  s.bytes = 3 * two_mib;
  // Two chunks in two reservations (grown behind via a hint once), then the address
  // behind taken.
  s.make = [](vmm_pmr::vmm_resource& r) {
    void* p = r.allocate(2 * two_mib);
    void* grown = r.grow(p, 2 * two_mib, 3 * two_mib);
    REQUIRE(grown == p);
    REQUIRE(r.find(p)->reservations.size() == 2);
    return p;
  };
  s.take_address_behind = true;
  s.operation = [&](vmm_pmr::vmm_resource& r, void*& p) {
    void* grown = r.grow(p, s.bytes, 5 * two_mib);
    CHECK(grown != p);
    p = grown;
    return 5 * two_mib;
  };
  // As above, but two old reservations to free.
  const sweep_counts counts = sweep(stack, resource, s, failure);
  CHECK(counts.threw > 0);
  CHECK(counts.threw < counts.calls);
}

BACKEND_TEST_CASE("a failure while shrinking is reported and the shrink stands",
                  "[vmm_resource][growth][fault_injection]") {
  auto stack = decorate_for_growth(TestType::make());
  vmm_pmr::vmm_resource resource(stack.faults);
  const auto failure = GENERATE(injected_failure::out_of_memory, injected_failure::driver_error);
  scenario s;
  s.bytes = 4 * two_mib;
  // Three chunks (1 + 1 + 2 granules) in address space reserved ahead.
  s.make = [](vmm_pmr::vmm_resource& r) {
    void* p = r.allocate_with_address_space(two_mib, 4 * two_mib);
    REQUIRE(r.grow(p, two_mib, 2 * two_mib) == p);
    REQUIRE(r.grow(p, 2 * two_mib, 4 * two_mib) == p);
    return p;
  };
  s.operation = [](vmm_pmr::vmm_resource& r, void*& p) {
    CHECK(r.shrink(p, 4 * two_mib, two_mib) == 3 * two_mib);
    CHECK(r.find(p)->mapped_bytes == two_mib);
    return two_mib;
  };
  // Unmap and release the chunks past the first: only undoing.
  const sweep_counts counts = sweep(stack, resource, s, failure);
  CHECK(counts.calls > 0);
  CHECK(counts.threw == 0);
}
