// The registry of live allocations: lookup by any pointer inside an allocation's mapped
// bytes, the verdict on every deallocation (removed, unknown pointer, double free, wrong
// owner, interior pointer, wrong size), statistics per owner and in total, the leak
// report of release_all, resize (growth and shrinking applied under the lock), and
// consistency under concurrent use.
//
// Every test uses its own mapping_registry (never the global one) over allocations
// that vmm_allocation::build made on a host backend, so no GPU is needed and no test
// sees another's entries.
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <catch2/catch_test_macros.hpp>
#include <cstddef>
#include <deque>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/backends_under_test.hpp"
#include "support/printers.hpp"
#include "vmm_pmr/handles/vmm_allocation.hpp"
#include "vmm_pmr/registry/mapping_registry.hpp"
#include "vmm_pmr/testing/counting_backend.hpp"
#include "vmm_pmr/testing/roomy_backend.hpp"

// Prints removal statuses by name in failure messages.
template <>
struct Catch::StringMaker<vmm_pmr::detail::removal_status> {
  static std::string convert(vmm_pmr::detail::removal_status status) {
    switch (status) {
      case vmm_pmr::detail::removal_status::removed:
        return "removed";
      case vmm_pmr::detail::removal_status::unknown_pointer:
        return "unknown_pointer";
      case vmm_pmr::detail::removal_status::double_free:
        return "double_free";
      case vmm_pmr::detail::removal_status::wrong_owner:
        return "wrong_owner";
      case vmm_pmr::detail::removal_status::interior_pointer:
        return "interior_pointer";
      case vmm_pmr::detail::removal_status::wrong_size:
        return "wrong_size";
    }
    return "removal_status(" + std::to_string(static_cast<int>(status)) + ")";
  }
};

namespace {

using namespace vmm_pmr;
using namespace vmm_pmr::detail;
using vmm_pmr::test::make_test_host_backend;
using vmm_pmr::test::two_mib;

constexpr std::array<access_grant, 1> read_write = {access_grant{0, access_mode::read_write}};

// Owners are only compared, never dereferenced: any distinct addresses will do.
const char first_resource = 0;
const char second_resource = 0;
const void* const owner_a = &first_resource;
const void* const owner_b = &second_resource;

vmm_allocation build(backend& host, std::size_t mapped_bytes = two_mib) {
  return vmm_allocation::build(host, mapped_bytes, 0, physical_properties{}, read_write);
}

allocation_description requested(std::size_t bytes) {
  return {.requested_bytes = bytes, .alignment = 256, .location = memory_location::on_device(0)};
}

const void* pointer(address at) { return reinterpret_cast<const void*>(at); }

// Holding many allocations holds as many memfds: make sure the process may open them.
void require_open_file_limit(rlim_t wanted) {
  rlimit limit{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &limit) == 0);
  if (limit.rlim_cur >= wanted) return;
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < wanted) {
    SKIP("needs " << wanted << " open files, the hard limit is " << limit.rlim_max);
  }
  limit.rlim_cur = wanted;
  REQUIRE(setrlimit(RLIMIT_NOFILE, &limit) == 0);
}

}  // namespace

// add and find

TEST_CASE("registry add takes the allocation and returns its base", "[registry]") {
  const auto host = make_test_host_backend();
  mapping_registry registry;
  vmm_allocation allocation = build(*host);
  const address expected = allocation.base();

  CHECK(registry.add(owner_a, std::move(allocation), requested(100)) == expected);
  CHECK(allocation.empty());
  CHECK(registry.find(pointer(expected)).has_value());
}

TEST_CASE("registry find by the base describes the allocation", "[registry]") {
  const auto host = make_test_host_backend();
  mapping_registry registry;
  vmm_allocation allocation = build(*host, 2 * two_mib);
  const physical_handle handle = allocation.chunks()[0].memory.handle();
  const address base = registry.add(owner_a, std::move(allocation),
                                    {.requested_bytes = 3 * two_mib + 5,
                                     .alignment = 4096,
                                     .location = memory_location::on_host(),
                                     .compressed = true,
                                     .imported = true});

  const std::optional<allocation_info> found = registry.find(pointer(base));
  REQUIRE(found.has_value());
  CHECK(found->base == base);
  CHECK(found->requested_bytes == 3 * two_mib + 5);
  CHECK(found->mapped_bytes == 2 * two_mib);
  CHECK(found->alignment == 4096);
  CHECK(found->location == memory_location::on_host());
  CHECK(found->owner == owner_a);
  CHECK(found->compressed);
  CHECK(found->imported);
  REQUIRE(found->chunks.size() == 1);
  CHECK(found->chunks[0].base == base);
  CHECK(found->chunks[0].size == 2 * two_mib);
  CHECK(found->chunks[0].handle == handle);
}

TEST_CASE("registry find by an interior pointer returns the allocation holding it", "[registry]") {
  const auto host = make_test_host_backend();
  mapping_registry registry;
  const address base = registry.add(owner_a, build(*host, 2 * two_mib), requested(2 * two_mib));

  for (const std::size_t offset : {std::size_t{1}, std::size_t{4096}, two_mib, 2 * two_mib - 2}) {
    CAPTURE(offset);
    const std::optional<allocation_info> found = registry.find(pointer(base + offset));
    REQUIRE(found.has_value());
    CHECK(found->base == base);
  }
}

TEST_CASE(
    "registry find by the last mapped byte returns the allocation, beyond the requested "
    "size",
    "[registry]") {
  const auto host = make_test_host_backend();
  mapping_registry registry;
  // 100 bytes requested, 2 MiB mapped: the rounding is part of the allocation.
  const address base = registry.add(owner_a, build(*host), requested(100));

  const std::optional<allocation_info> past_requested = registry.find(pointer(base + 100));
  REQUIRE(past_requested.has_value());
  CHECK(past_requested->base == base);
  const std::optional<allocation_info> last_byte = registry.find(pointer(base + two_mib - 1));
  REQUIRE(last_byte.has_value());
  CHECK(last_byte->base == base);
}

TEST_CASE("registry find one byte past the mapped end returns nothing", "[registry]") {
  const auto host = make_test_host_backend();
  mapping_registry registry;
  const address base = registry.add(owner_a, build(*host), requested(two_mib));

  CHECK_FALSE(registry.find(pointer(base + two_mib)).has_value());
}

TEST_CASE("registry find of a pointer it never handed out returns nothing", "[registry]") {
  const auto host = make_test_host_backend();
  mapping_registry registry;
  CHECK_FALSE(registry.find(nullptr).has_value());

  const address base = registry.add(owner_a, build(*host), requested(two_mib));
  const int on_the_stack = 0;
  CHECK_FALSE(registry.find(&on_the_stack).has_value());
  CHECK_FALSE(registry.find(nullptr).has_value());
  CHECK_FALSE(registry.find(pointer(base - 1)).has_value());
}

TEST_CASE("registry find returns nothing for a removed allocation", "[registry]") {
  const auto host = make_test_host_backend();
  mapping_registry registry;
  const address base = registry.add(owner_a, build(*host), requested(two_mib));
  const removal removed = registry.remove(owner_a, pointer(base), two_mib);
  REQUIRE(removed.status == removal_status::removed);

  CHECK_FALSE(registry.find(pointer(base)).has_value());
  CHECK_FALSE(registry.find(pointer(base + 17)).has_value());
}

TEST_CASE("registry live lists only the owner's allocations, in address order", "[registry]") {
  const auto host = make_test_host_backend();
  mapping_registry registry;
  std::vector<address> bases_of_a;
  for (int i = 0; i < 3; ++i) {
    bases_of_a.push_back(registry.add(owner_a, build(*host), requested(two_mib)));
    registry.add(owner_b, build(*host), requested(two_mib));
  }
  std::sort(bases_of_a.begin(), bases_of_a.end());

  const std::vector<allocation_info> live = registry.live(owner_a);
  REQUIRE(live.size() == 3);
  for (std::size_t i = 0; i < live.size(); ++i) {
    CHECK(live[i].base == bases_of_a[i]);
    CHECK(live[i].owner == owner_a);
  }
}

TEST_CASE("registry sequence numbers follow the order of registration", "[registry]") {
  const auto host = make_test_host_backend();
  mapping_registry registry;
  const address first = registry.add(owner_a, build(*host), requested(two_mib));
  const address second = registry.add(owner_b, build(*host), requested(two_mib));
  const address third = registry.add(owner_a, build(*host), requested(two_mib));

  const std::uint64_t first_sequence = registry.find(pointer(first))->sequence;
  const std::uint64_t second_sequence = registry.find(pointer(second))->sequence;
  const std::uint64_t third_sequence = registry.find(pointer(third))->sequence;
  CHECK(first_sequence < second_sequence);
  CHECK(second_sequence < third_sequence);
}

// remove

TEST_CASE(
    "registry remove by the owner with the base and the requested size hands the "
    "allocation back",
    "[registry]") {
  const auto counting =
      std::make_shared<vmm_pmr::testing::counting_backend>(make_test_host_backend());
  mapping_registry registry;
  const address base = registry.add(owner_a, build(*counting), requested(100));

  {
    const removal removed = registry.remove(owner_a, pointer(base), 100);
    CHECK(removed.status == removal_status::removed);
    CHECK(removed.allocation.base() == base);
    CHECK_FALSE(removed.found.has_value());  // described only for bad deallocations
    // The registry no longer owns it: the caller's copy is the one that undoes it.
    CHECK(counting->live().mappings == 1);
  }
  CHECK(counting->live() == vmm_pmr::testing::live_objects{});
}

TEST_CASE("registry remove of a pointer it never handed out is unknown_pointer", "[registry]") {
  const auto host = make_test_host_backend();
  mapping_registry registry;
  const address base = registry.add(owner_a, build(*host), requested(two_mib));
  const int on_the_stack = 0;

  const removal removed = registry.remove(owner_a, &on_the_stack, sizeof on_the_stack);
  CHECK(removed.status == removal_status::unknown_pointer);
  CHECK(removed.allocation.empty());
  CHECK_FALSE(removed.found.has_value());
  CHECK(registry.remove(owner_a, pointer(base + two_mib), two_mib).status ==
        removal_status::unknown_pointer);
  CHECK(registry.stats(owner_a).live_count == 1);
}

TEST_CASE("registry remove of the same base twice by its owner is a double free", "[registry]") {
  const auto host = make_test_host_backend();
  mapping_registry registry;
  const address base = registry.add(owner_a, build(*host), requested(two_mib));
  REQUIRE(registry.remove(owner_a, pointer(base), two_mib).status == removal_status::removed);

  const removal again = registry.remove(owner_a, pointer(base), two_mib);
  CHECK(again.status == removal_status::double_free);
  CHECK(again.allocation.empty());
}

TEST_CASE("registry remove of a base another owner freed is unknown_pointer, not a double free",
          "[registry]") {
  const auto host = make_test_host_backend();
  mapping_registry registry;
  const address base = registry.add(owner_a, build(*host), requested(two_mib));
  REQUIRE(registry.remove(owner_a, pointer(base), two_mib).status == removal_status::removed);

  CHECK(registry.remove(owner_b, pointer(base), two_mib).status == removal_status::unknown_pointer);
}

TEST_CASE("registry remove by another owner is wrong_owner and the allocation stays live",
          "[registry]") {
  const auto host = make_test_host_backend();
  mapping_registry registry;
  const address base = registry.add(owner_a, build(*host), requested(two_mib));

  const removal removed = registry.remove(owner_b, pointer(base), two_mib);
  CHECK(removed.status == removal_status::wrong_owner);
  CHECK(removed.allocation.empty());
  REQUIRE(removed.found.has_value());
  CHECK(removed.found->owner == owner_a);
  CHECK(registry.find(pointer(base)).has_value());
  CHECK(registry.remove(owner_a, pointer(base), two_mib).status == removal_status::removed);
}

TEST_CASE(
    "registry remove of an interior pointer is interior_pointer and the allocation stays "
    "live",
    "[registry]") {
  const auto host = make_test_host_backend();
  mapping_registry registry;
  const address base = registry.add(owner_a, build(*host), requested(two_mib));

  const removal removed = registry.remove(owner_a, pointer(base + 64), two_mib);
  CHECK(removed.status == removal_status::interior_pointer);
  CHECK(removed.allocation.empty());
  REQUIRE(removed.found.has_value());
  CHECK(removed.found->base == base);
  CHECK(registry.find(pointer(base)).has_value());
  CHECK(registry.remove(owner_a, pointer(base), two_mib).status == removal_status::removed);
}

TEST_CASE("registry remove with another size is wrong_size and the allocation stays live",
          "[registry]") {
  const auto host = make_test_host_backend();
  mapping_registry registry;
  const address base = registry.add(owner_a, build(*host), requested(100));

  // The mapped size is not the size the caller asked for either.
  for (const std::size_t wrong : {std::size_t{99}, std::size_t{101}, two_mib}) {
    CAPTURE(wrong);
    const removal removed = registry.remove(owner_a, pointer(base), wrong);
    CHECK(removed.status == removal_status::wrong_size);
    CHECK(removed.allocation.empty());
    REQUIRE(removed.found.has_value());
    CHECK(removed.found->requested_bytes == 100);
  }
  CHECK(registry.stats(owner_a).live_count == 1);
  CHECK(registry.find(pointer(base)).has_value());
  CHECK(registry.remove(owner_a, pointer(base), 100).status == removal_status::removed);
}

TEST_CASE("registry remove of a base that is live again after reuse is not a double free",
          "[registry]") {
  const auto host = make_test_host_backend();
  mapping_registry registry;
  const address base = registry.add(owner_a, build(*host), requested(two_mib));
  removal first = registry.remove(owner_a, pointer(base), two_mib);
  REQUIRE(first.status == removal_status::removed);

  // The same base handed out again, as the driver does with freed addresses.
  REQUIRE(registry.add(owner_a, std::move(first.allocation), requested(two_mib)) == base);
  const removal second = registry.remove(owner_a, pointer(base), two_mib);
  CHECK(second.status == removal_status::removed);
  CHECK(second.allocation.base() == base);
}

TEST_CASE("registry remove of a reused base after it was freed again is a double free",
          "[registry]") {
  const auto host = make_test_host_backend();
  mapping_registry registry;
  const address base = registry.add(owner_a, build(*host), requested(two_mib));
  removal first = registry.remove(owner_a, pointer(base), two_mib);
  REQUIRE(registry.add(owner_a, std::move(first.allocation), requested(two_mib)) == base);
  REQUIRE(registry.remove(owner_a, pointer(base), two_mib).status == removal_status::removed);

  CHECK(registry.remove(owner_a, pointer(base), two_mib).status == removal_status::double_free);
}

// Reused bases are blanked out of the recently-freed ring; a blank of 0 once made a
// null pointer look like a double free.
TEST_CASE("registry remove of a null pointer is unknown_pointer, never a double free",
          "[registry]") {
  const auto host = make_test_host_backend();
  mapping_registry registry;
  CHECK(registry.remove(owner_a, nullptr, 0).status == removal_status::unknown_pointer);

  const address base = registry.add(owner_a, build(*host), requested(two_mib));
  removal first = registry.remove(owner_a, pointer(base), two_mib);
  registry.add(owner_a, std::move(first.allocation), requested(two_mib));

  CHECK(registry.remove(owner_a, nullptr, 0).status == removal_status::unknown_pointer);
}

// stats

TEST_CASE("registry stats of an owner that never allocated are all zero", "[registry]") {
  const auto host = make_test_host_backend();
  mapping_registry registry;
  registry.add(owner_a, build(*host), requested(two_mib));

  CHECK(registry.stats(owner_b) == allocation_stats{});
}

TEST_CASE("registry stats count live, peak and total allocations of each owner", "[registry]") {
  const auto host = make_test_host_backend();
  mapping_registry registry;
  const address small = registry.add(owner_a, build(*host), requested(100));
  registry.add(owner_a, build(*host, 2 * two_mib), requested(3 * two_mib));
  registry.add(owner_b, build(*host), requested(7));

  allocation_stats a = registry.stats(owner_a);
  CHECK(a.live_count == 2);
  CHECK(a.live_bytes == 100 + 3 * two_mib);
  CHECK(a.live_mapped_bytes == 3 * two_mib);
  CHECK(a.peak_count == 2);
  CHECK(a.peak_bytes == 100 + 3 * two_mib);
  CHECK(a.peak_mapped_bytes == 3 * two_mib);
  CHECK(a.total_count == 2);
  CHECK(a.total_bytes == 100 + 3 * two_mib);
  CHECK(a.deallocation_errors == 0);

  REQUIRE(registry.remove(owner_a, pointer(small), 100).status == removal_status::removed);
  a = registry.stats(owner_a);
  CHECK(a.live_count == 1);
  CHECK(a.live_bytes == 3 * two_mib);
  CHECK(a.live_mapped_bytes == 2 * two_mib);
  CHECK(a.total_count == 2);
  CHECK(a.total_bytes == 100 + 3 * two_mib);

  const allocation_stats b = registry.stats(owner_b);
  CHECK(b.live_count == 1);
  CHECK(b.live_bytes == 7);
  CHECK(b.live_mapped_bytes == two_mib);
  CHECK(b.total_count == 1);
}

TEST_CASE("registry stats keep the peak after allocations are removed", "[registry]") {
  const auto host = make_test_host_backend();
  mapping_registry registry;
  std::vector<address> bases;
  for (int i = 0; i < 3; ++i) bases.push_back(registry.add(owner_a, build(*host), requested(10)));
  for (const address base : bases) {
    REQUIRE(registry.remove(owner_a, pointer(base), 10).status == removal_status::removed);
  }
  registry.add(owner_a, build(*host), requested(10));

  const allocation_stats a = registry.stats(owner_a);
  CHECK(a.live_count == 1);
  CHECK(a.peak_count == 3);
  CHECK(a.peak_bytes == 30);
  CHECK(a.peak_mapped_bytes == 3 * two_mib);
  CHECK(a.total_count == 4);
  CHECK(a.total_bytes == 40);
}

TEST_CASE("registry stats without an owner add up every owner", "[registry]") {
  const auto host = make_test_host_backend();
  mapping_registry registry;
  const address of_a = registry.add(owner_a, build(*host), requested(100));
  registry.add(owner_b, build(*host, 2 * two_mib), requested(200));
  REQUIRE(registry.remove(owner_a, pointer(of_a), 100).status == removal_status::removed);
  registry.remove(owner_b, pointer(of_a), 100);  // a bad deallocation

  const allocation_stats total = registry.stats();
  CHECK(total.live_count == 1);
  CHECK(total.live_bytes == 200);
  CHECK(total.live_mapped_bytes == 2 * two_mib);
  CHECK(total.peak_count == 2);
  CHECK(total.peak_bytes == 300);
  CHECK(total.peak_mapped_bytes == 3 * two_mib);
  CHECK(total.total_count == 2);
  CHECK(total.total_bytes == 300);
  CHECK(total.deallocation_errors == 1);
}

TEST_CASE("registry counts every bad deallocation against the owner that attempted it",
          "[registry]") {
  const auto host = make_test_host_backend();
  mapping_registry registry;
  const address of_a = registry.add(owner_a, build(*host), requested(100));
  const address freed = registry.add(owner_a, build(*host), requested(100));
  REQUIRE(registry.remove(owner_a, pointer(freed), 100).status == removal_status::removed);
  const int on_the_stack = 0;

  CHECK(registry.remove(owner_a, &on_the_stack, 4).status == removal_status::unknown_pointer);
  CHECK(registry.remove(owner_a, pointer(freed), 100).status == removal_status::double_free);
  CHECK(registry.remove(owner_a, pointer(of_a + 8), 100).status ==
        removal_status::interior_pointer);
  CHECK(registry.remove(owner_a, pointer(of_a), 99).status == removal_status::wrong_size);
  CHECK(registry.stats(owner_a).deallocation_errors == 4);

  // Another owner freeing a's allocation: the error is b's, not a's.
  CHECK(registry.remove(owner_b, pointer(of_a), 100).status == removal_status::wrong_owner);
  CHECK(registry.stats(owner_a).deallocation_errors == 4);
  CHECK(registry.stats(owner_b).deallocation_errors == 1);
  CHECK(registry.stats().deallocation_errors == 5);
  // None of it changed what is live.
  CHECK(registry.stats(owner_a).live_count == 1);
  CHECK(registry.stats().live_count == 1);
}

// release_all

TEST_CASE("registry release_all hands back everything the owner still holds, with a leak report",
          "[registry]") {
  const auto host = make_test_host_backend();
  mapping_registry registry;
  std::vector<address> leaked_bases = {
      registry.add(owner_a, build(*host), requested(100)),
      registry.add(owner_a, build(*host, 2 * two_mib), requested(3 * two_mib)),
  };
  const address freed = registry.add(owner_a, build(*host), requested(5));
  REQUIRE(registry.remove(owner_a, pointer(freed), 5).status == removal_status::removed);
  std::sort(leaked_bases.begin(), leaked_bases.end());

  auto [allocations, report] = registry.release_all(owner_a);
  CHECK(report.owner == owner_a);
  CHECK(report.leaked_bytes == 100 + 3 * two_mib);
  REQUIRE(report.leaked.size() == 2);
  REQUIRE(allocations.size() == 2);
  std::vector<address> reported_bases;
  std::vector<address> returned_bases;
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(report.leaked[i].owner == owner_a);
    CHECK(report.leaked[i].chunks.size() == 1);
    reported_bases.push_back(report.leaked[i].base);
    returned_bases.push_back(allocations[i].base());
  }
  std::sort(reported_bases.begin(), reported_bases.end());
  std::sort(returned_bases.begin(), returned_bases.end());
  CHECK(reported_bases == leaked_bases);
  CHECK(returned_bases == leaked_bases);
  for (const address base : leaked_bases) CHECK_FALSE(registry.find(pointer(base)).has_value());
}

TEST_CASE("registry release_all forgets the owner and leaves the other owners alone",
          "[registry]") {
  const auto host = make_test_host_backend();
  mapping_registry registry;
  const address of_a = registry.add(owner_a, build(*host), requested(100));
  REQUIRE(registry.remove(owner_a, pointer(of_a + 1), 100).status ==
          removal_status::interior_pointer);  // a bad deallocation, counted for owner_a
  const address of_b = registry.add(owner_b, build(*host), requested(200));
  const allocation_stats b_before = registry.stats(owner_b);

  const auto released = registry.release_all(owner_a);

  CHECK(registry.stats(owner_a) == allocation_stats{});
  CHECK(registry.live(owner_a).empty());
  CHECK(registry.stats(owner_b) == b_before);
  CHECK(registry.find(pointer(of_b)).has_value());
  const allocation_stats total = registry.stats();
  CHECK(total.live_count == 1);
  CHECK(total.live_bytes == 200);
  CHECK(total.live_mapped_bytes == two_mib);
  CHECK(total.total_count == 2);
}

TEST_CASE("registry release_all of an owner with nothing live reports nothing", "[registry]") {
  const auto host = make_test_host_backend();
  mapping_registry registry;
  registry.add(owner_b, build(*host), requested(200));

  const auto [allocations, report] = registry.release_all(owner_a);
  CHECK(allocations.empty());
  CHECK(report.owner == owner_a);
  CHECK(report.leaked.empty());
  CHECK(report.leaked_bytes == 0);
  CHECK(registry.stats().live_count == 1);
}

TEST_CASE(
    "registry release_all returns allocations that undo their driver objects when "
    "destroyed",
    "[registry]") {
  const auto counting =
      std::make_shared<vmm_pmr::testing::counting_backend>(make_test_host_backend());
  mapping_registry registry;
  for (int i = 0; i < 3; ++i) registry.add(owner_a, build(*counting), requested(1));
  CHECK(counting->live().mappings == 3);

  { const auto released = registry.release_all(owner_a); }
  CHECK(counting->live() == vmm_pmr::testing::live_objects{});
}

// Scale and concurrency

TEST_CASE(
    "registry finds each of a thousand page-sized allocations by base, interior pointer "
    "and last byte",
    "[registry]") {
  constexpr std::size_t count = 1000;
  require_open_file_limit(count + 256);
  const auto host = make_test_host_backend(4096);
  const std::size_t page = host->granularity(physical_properties{}, granularity_kind::minimum);
  mapping_registry registry;
  std::vector<address> bases;
  bases.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    bases.push_back(registry.add(owner_a, build(*host, page), requested(page - i % 7)));
  }
  REQUIRE(registry.stats(owner_a).live_count == count);

  std::size_t mismatches = 0;
  for (const address base : bases) {
    for (const address at : {base, base + page / 2, base + page - 1}) {
      const std::optional<allocation_info> found = registry.find(pointer(at));
      if (!found || found->base != base) ++mismatches;
    }
  }
  CHECK(mismatches == 0);

  for (std::size_t i = 0; i < count; ++i) {
    if (registry.remove(owner_a, pointer(bases[i]), page - i % 7).status !=
        removal_status::removed) {
      ++mismatches;
    }
  }
  CHECK(mismatches == 0);
  CHECK(registry.stats(owner_a).live_count == 0);
  CHECK(registry.stats(owner_a).peak_count == count);
  CHECK(registry.stats(owner_a).deallocation_errors == 0);
}

TEST_CASE(
    "registry stats stay consistent under concurrent add, find and remove from four "
    "threads",
    "[registry]") {
  constexpr std::size_t thread_count = 4;
  constexpr std::size_t allocations_per_thread = 32;
  constexpr std::size_t adds_per_thread = 5000;
  const auto counting =
      std::make_shared<vmm_pmr::testing::counting_backend>(make_test_host_backend(4096));
  const std::size_t page = counting->granularity(physical_properties{}, granularity_kind::minimum);
  mapping_registry registry;
  const std::array<char, thread_count> owner_tags{};
  std::latch start(thread_count);
  std::atomic<std::size_t> lookup_failures{0};
  std::atomic<std::size_t> removal_failures{0};
  std::atomic<bool> stats_inconsistent{false};

  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < thread_count; ++t) {
    threads.emplace_back([&, t] {
      const void* const owner = &owner_tags[t];
      // Built up front and recycled through the registry, so that the threads race on
      // the registry rather than wait in the backend.
      std::vector<vmm_allocation> idle;
      for (std::size_t i = 0; i < allocations_per_thread; ++i)
        idle.push_back(build(*counting, page));
      std::deque<std::pair<address, std::size_t>> held;  // base, requested bytes
      const auto remove_oldest = [&] {
        const auto [base, bytes] = held.front();
        held.pop_front();
        removal removed = registry.remove(owner, pointer(base), bytes);
        if (removed.status != removal_status::removed) ++removal_failures;
        idle.push_back(std::move(removed.allocation));
      };

      start.arrive_and_wait();
      for (std::size_t i = 0; i < adds_per_thread; ++i) {
        if (idle.empty()) remove_oldest();
        const std::size_t bytes = i % 100 + 1;
        const address base = registry.add(owner, std::move(idle.back()), requested(bytes));
        idle.pop_back();
        held.emplace_back(base, bytes);
        const std::optional<allocation_info> found = registry.find(pointer(base + page - 1));
        if (!found || found->base != base || found->owner != owner) ++lookup_failures;
        if (i % 3 == 2) remove_oldest();
        const allocation_stats total = registry.stats();
        if (total.live_count > total.total_count || total.peak_count < total.live_count) {
          stats_inconsistent = true;
        }
      }
      while (!held.empty()) remove_oldest();
    });
  }
  for (std::thread& thread : threads) thread.join();

  CHECK(lookup_failures == 0);
  CHECK(removal_failures == 0);
  CHECK_FALSE(stats_inconsistent);
  std::uint64_t bytes_per_thread = 0;
  for (std::size_t i = 0; i < adds_per_thread; ++i) bytes_per_thread += i % 100 + 1;
  const allocation_stats total = registry.stats();
  CHECK(total.live_count == 0);
  CHECK(total.live_bytes == 0);
  CHECK(total.live_mapped_bytes == 0);
  CHECK(total.total_count == thread_count * adds_per_thread);
  CHECK(total.total_bytes == thread_count * bytes_per_thread);
  CHECK(total.peak_count <= thread_count * allocations_per_thread);
  CHECK(total.deallocation_errors == 0);
  for (const char& tag : owner_tags) {
    const allocation_stats own = registry.stats(&tag);
    CHECK(own.live_count == 0);
    CHECK(own.total_count == adds_per_thread);
    CHECK(own.total_bytes == bytes_per_thread);
  }
  CHECK(counting->live() == vmm_pmr::testing::live_objects{});
}

// resize: the registry's half of growth and shrinking

TEST_CASE("registry resize appends built pieces and keeps lookups and statistics right",
          "[registry][growth]") {
  // Reservations with free address space behind them: the extension gets its hint.
  const auto host = std::make_shared<vmm_pmr::testing::roomy_backend>(make_test_host_backend());
  mapping_registry registry;
  const address base = registry.add(owner_a, build(*host, 2 * two_mib), requested(3000));
  bool built = false;
  const resize_outcome grown =
      registry.resize(owner_a, pointer(base), 3000,
                      [&](const allocation_info& info, const vmm_allocation& allocation) {
                        built = true;
                        CHECK(info.requested_bytes == 3000);
                        vmm_allocation extension = allocation.build_extension(
                            *host, 2 * two_mib, 0, physical_properties{}, read_write);
                        REQUIRE_FALSE(extension.empty());
                        return allocation_change{.kind = allocation_change_kind::append,
                                                 .pieces = std::move(extension),
                                                 .chunks_kept = 0,
                                                 .requested_bytes = 3 * two_mib + 1};
                      });
  CHECK(built);
  REQUIRE(grown.status == resize_status::resized);
  CHECK(grown.base == base);
  const auto info = registry.find(pointer(base + 4 * two_mib - 1));
  REQUIRE(info);
  CHECK(info->base == base);
  CHECK(info->requested_bytes == 3 * two_mib + 1);
  CHECK(info->mapped_bytes == 4 * two_mib);
  CHECK(info->chunks.size() == 2);
  CHECK(info->reservations.size() == 2);
  const allocation_stats stats = registry.stats(owner_a);
  CHECK(stats.live_bytes == 3 * two_mib + 1);
  CHECK(stats.live_mapped_bytes == 4 * two_mib);
  CHECK(stats.peak_mapped_bytes == 4 * two_mib);
  CHECK(stats.live_count == 1);
  CHECK(stats.total_count == 1);
  CHECK(registry.stats().live_mapped_bytes == 4 * two_mib);
  CHECK(registry.remove(owner_a, pointer(base), 3 * two_mib + 1).status == removal_status::removed);
}

TEST_CASE("registry resize re-keys a relocated allocation", "[registry][growth]") {
  const auto host = make_test_host_backend(two_mib);
  mapping_registry registry;
  const address base = registry.add(owner_a, build(*host, two_mib), requested(two_mib));
  const resize_outcome moved = registry.resize(
      owner_a, pointer(base), two_mib, [&](const allocation_info&, const vmm_allocation& a) {
        return allocation_change{.kind = allocation_change_kind::relocate,
                                 .pieces = a.build_relocation(*host, two_mib, 4 * two_mib, 0,
                                                              physical_properties{}, read_write),
                                 .chunks_kept = 0,
                                 .requested_bytes = 2 * two_mib};
      });
  REQUIRE(moved.status == resize_status::resized);
  CHECK(moved.base != base);
  CHECK_FALSE(moved.leftover.empty());  // the old mapping and reservation, for the caller
  CHECK_FALSE(registry.find(pointer(base)));
  CHECK(registry.find(pointer(moved.base + 2 * two_mib - 1))->base == moved.base);
  CHECK(registry.stats(owner_a).live_mapped_bytes == 2 * two_mib);
  CHECK(registry.remove(owner_a, pointer(moved.base), 2 * two_mib).status ==
        removal_status::removed);
}

TEST_CASE("registry resize refuses what remove would refuse, without building anything",
          "[registry][growth]") {
  const auto host = make_test_host_backend(two_mib);
  mapping_registry registry;
  const address base = registry.add(owner_a, build(*host, 2 * two_mib), requested(3000));
  bool built = false;
  const change_builder never = [&](const allocation_info&, const vmm_allocation&) {
    built = true;
    return allocation_change{.kind = allocation_change_kind::none,
                             .pieces = {},
                             .chunks_kept = 0,
                             .requested_bytes = 3000};
  };
  CHECK(registry.resize(owner_b, pointer(base), 3000, never).status == resize_status::wrong_owner);
  CHECK(registry.resize(owner_a, pointer(base + 64), 3000, never).status ==
        resize_status::interior_pointer);
  CHECK(registry.resize(owner_a, pointer(base), 3001, never).status == resize_status::wrong_size);
  CHECK(registry.resize(owner_a, pointer(base + 4 * two_mib), 3000, never).status ==
        resize_status::unknown_pointer);
  CHECK_FALSE(built);
  CHECK(registry.resize(owner_a, pointer(base), 3000, never).found == std::nullopt);
  CHECK(built);
  CHECK(registry.remove(owner_a, pointer(base), 3000).status == removal_status::removed);
}
