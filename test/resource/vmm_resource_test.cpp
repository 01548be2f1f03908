// vmm_resource as a std::pmr::memory_resource, on every backend.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_exception.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <algorithm>
#include <cstring>
#include <limits>
#include <thread>
#include <vector>

#include "support/backends_under_test.hpp"
#include "support/printers.hpp"
#include "support/resource_fixtures.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/formatters.hpp"
#include "vmm_pmr/registry/mapping_registry.hpp"
#include "vmm_pmr/resource/vmm_resource.hpp"
#include "vmm_pmr/testing/counting_backend.hpp"
#include "vmm_pmr/testing/fault_injecting_backend.hpp"

using Catch::Matchers::ContainsSubstring;
using vmm_pmr::test::two_mib;

namespace {

constexpr std::size_t one_gib = std::size_t{1} << 30;

std::uintptr_t as_address(const void* pointer) { return reinterpret_cast<std::uintptr_t>(pointer); }

// Writes a pattern through the backend and reads it back: the memory is really mapped
// and accessible (works for device memory, where the host cannot dereference).
void check_round_trip(vmm_pmr::backend& driver, void* pointer, std::size_t bytes) {
  const std::size_t probe = std::min<std::size_t>(bytes, 4096);
  std::vector<unsigned char> written(probe), read(probe, 0);
  for (std::size_t i = 0; i < probe; ++i) written[i] = static_cast<unsigned char>(i * 7 + 1);
  driver.copy_from_host(as_address(pointer), written.data(), probe);
  driver.copy_to_host(read.data(), as_address(pointer), probe);
  CHECK(read == written);
  if (bytes > probe) {  // the last bytes too
    driver.copy_from_host(as_address(pointer) + bytes - probe, written.data(), probe);
    driver.copy_to_host(read.data(), as_address(pointer) + bytes - probe, probe);
    CHECK(read == written);
  }
}

}  // namespace

BACKEND_TEST_CASE("allocate maps memory that reads back what was written, from 1 B to 1 GiB",
                  "[vmm_resource]") {
  auto counting = std::make_shared<vmm_pmr::testing::counting_backend>(TestType::make());
  vmm_pmr::vmm_resource resource(counting);
  for (std::size_t bytes :
       {std::size_t{1}, std::size_t{4096}, two_mib, two_mib + 1, std::size_t{64} << 20, one_gib}) {
    CAPTURE(bytes);
    void* pointer = resource.allocate(bytes);
    REQUIRE(pointer != nullptr);
    check_round_trip(*counting, pointer, bytes);
    resource.deallocate(pointer, bytes);
    CHECK(counting->live() == vmm_pmr::testing::live_objects{});
  }
}

BACKEND_TEST_CASE("allocation sizes are rounded up to the granularity", "[vmm_resource]") {
  vmm_pmr::vmm_resource resource(TestType::make());
  const std::size_t granularity = resource.granularity();
  REQUIRE(granularity >= 4096);
  void* small = resource.allocate(1);
  void* over = resource.allocate(granularity + 1);
  CHECK(resource.find(small)->mapped_bytes == granularity);
  CHECK(resource.find(over)->mapped_bytes == 2 * granularity);
  CHECK(resource.find(over)->requested_bytes == granularity + 1);
  CHECK(resource.stats().live_mapped_bytes == 3 * granularity);
  resource.deallocate(small, 1);
  resource.deallocate(over, granularity + 1);
}

BACKEND_TEST_CASE("any power-of-two alignment is honoured, beyond the granularity too",
                  "[vmm_resource]") {
  vmm_pmr::vmm_resource resource(TestType::make());
  for (std::size_t alignment :
       {std::size_t{1}, std::size_t{256}, two_mib, std::size_t{64} << 20, one_gib}) {
    CAPTURE(alignment);
    void* pointer = resource.allocate(4096, alignment);
    CHECK(as_address(pointer) % alignment == 0);
    resource.deallocate(pointer, 4096, alignment);
  }
}

BACKEND_TEST_CASE("a non-power-of-two alignment is refused and changes nothing",
                  "[vmm_resource][bad_input]") {
  auto counting = std::make_shared<vmm_pmr::testing::counting_backend>(TestType::make());
  vmm_pmr::vmm_resource resource(counting);
  CHECK_THROWS_MATCHES(resource.allocate(4096, 3), vmm_pmr::invalid_argument,
                       Catch::Matchers::MessageMatches(ContainsSubstring("alignment 3")));
  CHECK_THROWS_AS(resource.allocate(4096, 0), vmm_pmr::invalid_argument);
  CHECK(counting->live() == vmm_pmr::testing::live_objects{});
  CHECK(resource.stats().live_count == 0);
}

BACKEND_TEST_CASE("allocate(0) returns an aligned non-null pointer without calling the driver",
                  "[vmm_resource]") {
  auto faults = std::make_shared<vmm_pmr::testing::fault_injecting_backend>(TestType::make());
  vmm_pmr::test::report_recorder recorder;
  vmm_pmr::vmm_resource resource(faults, recorder.attach({}));
  const std::size_t calls = faults->total_calls();
  for (std::size_t alignment : {std::size_t{1}, std::size_t{64}, std::size_t{4096}}) {
    void* pointer = resource.allocate(0, alignment);
    CHECK(pointer != nullptr);
    CHECK(as_address(pointer) % alignment == 0);
    CHECK_FALSE(resource.find(pointer));
    resource.deallocate(pointer, 0, alignment);
  }
  CHECK(faults->total_calls() == calls);
  CHECK(resource.stats() == vmm_pmr::allocation_stats{});
  CHECK(recorder.bad_deallocations.empty());
}

BACKEND_TEST_CASE("a zero-byte pointer freed with another alignment is reported naming both",
                  "[vmm_resource][bad_input]") {
  vmm_pmr::test::report_recorder recorder;
  vmm_pmr::vmm_resource resource(TestType::make(), recorder.attach({}));
  void* aligned = resource.allocate(0, 64);
  resource.deallocate(aligned, 0, 16);
  REQUIRE(recorder.bad_deallocations.size() == 1);
  CHECK_THAT(recorder.last_message(),
             ContainsSubstring("alignment differs: deallocate was given alignment 16, but 0x40 "
                               "is the pointer allocate(0, 64) returns; pass alignment 64"));
  // Alignments up to alignof(max_align_t) share one pointer: allocate's is not known.
  void* small = resource.allocate(0, 8);
  resource.deallocate(small, 0, 32);
  CHECK_THAT(recorder.last_message(),
             ContainsSubstring("deallocate was given alignment 32, but 0x10 is the pointer "
                               "allocate(0) returns for alignments up to 16"));
  CHECK(resource.stats().deallocation_errors == 2);
  resource.deallocate(aligned, 0, 64);
  resource.deallocate(small, 0, 8);
  CHECK(recorder.bad_deallocations.size() == 2);
}

BACKEND_TEST_CASE(
    "a size that overflows when rounded is out_of_memory with the size in the message",
    "[vmm_resource][bad_input]") {
  auto counting = std::make_shared<vmm_pmr::testing::counting_backend>(TestType::make());
  vmm_pmr::vmm_resource resource(counting);
  const std::size_t absurd = std::numeric_limits<std::size_t>::max();
  CHECK_THROWS_MATCHES(resource.allocate(absurd), std::bad_alloc,
                       Catch::Matchers::MessageMatches(ContainsSubstring("16.0 EiB")));
  CHECK_THROWS_AS(resource.allocate(absurd - 10), vmm_pmr::out_of_memory);
  CHECK(counting->live() == vmm_pmr::testing::live_objects{});
  void* pointer = resource.allocate(100);
  resource.deallocate(pointer, 100);
}

BACKEND_TEST_CASE("a size beyond the device's memory is out_of_memory and leaves nothing behind",
                  "[vmm_resource][bad_input]") {
  auto counting = std::make_shared<vmm_pmr::testing::counting_backend>(TestType::make());
  vmm_pmr::vmm_resource resource(counting);
  const std::size_t too_much = std::size_t{1} << 46;  // 64 TiB
  try {
    (void)resource.allocate(too_much);
    FAIL("allocating 64 TiB succeeded");
  } catch (const vmm_pmr::out_of_memory& failure) {
    CHECK_THAT(failure.what(), ContainsSubstring("64 TiB") && ContainsSubstring("device 0"));
  }
  CHECK(counting->live() == vmm_pmr::testing::live_objects{});
  CHECK(resource.stats().live_count == 0);
  void* pointer = resource.allocate(two_mib);
  resource.deallocate(pointer, two_mib);
}

BACKEND_TEST_CASE("many live allocations are disjoint and each is found by its base",
                  "[vmm_resource]") {
  vmm_pmr::vmm_resource resource(TestType::make());
  std::vector<void*> pointers;
  for (int i = 0; i < 128; ++i) pointers.push_back(resource.allocate(4096 * (i + 1)));
  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> ranges;
  for (void* pointer : pointers) {
    auto info = resource.find(pointer);
    REQUIRE(info);
    CHECK(info->base == as_address(pointer));
    ranges.emplace_back(info->base, info->base + info->mapped_bytes);
  }
  std::sort(ranges.begin(), ranges.end());
  for (std::size_t i = 1; i < ranges.size(); ++i) CHECK(ranges[i - 1].second <= ranges[i].first);
  CHECK(resource.stats().live_count == 128);
  for (int i = 0; i < 128; ++i) resource.deallocate(pointers[i], 4096 * (i + 1));
  CHECK(resource.stats().live_count == 0);
}

BACKEND_TEST_CASE("an interior pointer finds its allocation and its owner", "[vmm_resource]") {
  vmm_pmr::vmm_resource resource(TestType::make());
  vmm_pmr::vmm_resource other(TestType::make());
  auto* pointer = static_cast<std::byte*>(resource.allocate(3 * two_mib));
  auto inside = vmm_pmr::mapping_registry::global().find(pointer + 5 * 1024 * 1024);
  REQUIRE(inside);
  CHECK(inside->owner == &resource);
  CHECK(inside->base == as_address(pointer));
  CHECK(inside->requested_bytes == 3 * two_mib);
  CHECK(inside->chunks.size() == 1);
  CHECK(resource.find(pointer + 3 * two_mib - 1));
  CHECK_FALSE(other.find(pointer + 1));
  resource.deallocate(pointer, 3 * two_mib);
  CHECK_FALSE(resource.find(pointer + 1));
}

BACKEND_TEST_CASE("statistics count live, peak and total allocations", "[vmm_resource]") {
  vmm_pmr::vmm_resource resource(TestType::make());
  const std::size_t granularity = resource.granularity();
  void* a = resource.allocate(100);
  void* b = resource.allocate(granularity + 100);
  resource.deallocate(a, 100);
  void* c = resource.allocate(10);
  const vmm_pmr::allocation_stats stats = resource.stats();
  CHECK(stats.live_count == 2);
  CHECK(stats.live_bytes == granularity + 110);
  CHECK(stats.live_mapped_bytes == 3 * granularity);
  CHECK(stats.peak_count == 2);
  CHECK(stats.peak_bytes == granularity + 200);
  CHECK(stats.peak_mapped_bytes == 3 * granularity);
  CHECK(stats.total_count == 3);
  CHECK(stats.total_bytes == granularity + 210);
  CHECK_THAT(fmt::format("{}", stats), ContainsSubstring("2 live"));
  resource.deallocate(b, granularity + 100);
  resource.deallocate(c, 10);
}

BACKEND_TEST_CASE("destroying a resource frees what is live and reports it as a leak",
                  "[vmm_resource]") {
  auto counting = std::make_shared<vmm_pmr::testing::counting_backend>(TestType::make());
  vmm_pmr::test::report_recorder recorder;
  void* leaked = nullptr;
  {
    vmm_pmr::vmm_resource resource(counting, recorder.attach({}));
    leaked = resource.allocate(5000);
    void* freed = resource.allocate(7000);
    (void)resource.allocate(3 * two_mib);
    resource.deallocate(freed, 7000);
    CHECK(counting->live().mappings == 2);
  }
  CHECK(counting->live() == vmm_pmr::testing::live_objects{});
  REQUIRE(recorder.leaks.size() == 1);
  CHECK(recorder.leaks[0].leaked.size() == 2);
  CHECK(recorder.leaks[0].leaked_bytes == 5000 + 3 * two_mib);
  CHECK(recorder.leaks[0].leaked[0].base == as_address(leaked));
  CHECK_FALSE(vmm_pmr::mapping_registry::global().find(leaked));
}

BACKEND_TEST_CASE("a resource destroyed with nothing live reports no leak", "[vmm_resource]") {
  vmm_pmr::test::report_recorder recorder;
  {
    vmm_pmr::vmm_resource resource(TestType::make(), recorder.attach({}));
    resource.deallocate(resource.allocate(10), 10);
  }
  CHECK(recorder.leaks.empty());
}

BACKEND_TEST_CASE("a double free is reported as such and frees nothing else",
                  "[vmm_resource][bad_input]") {
  vmm_pmr::test::report_recorder recorder;
  vmm_pmr::vmm_resource resource(TestType::make(), recorder.attach({}));
  void* keep = resource.allocate(100);
  void* pointer = resource.allocate(100);
  resource.deallocate(pointer, 100);
  resource.deallocate(pointer, 100);
  REQUIRE(recorder.bad_deallocations.size() == 1);
  CHECK_THAT(recorder.last_message(), ContainsSubstring("double free"));
  CHECK(resource.stats().live_count == 1);
  CHECK(resource.stats().deallocation_errors == 1);
  CHECK(resource.find(keep));
  resource.deallocate(keep, 100);
}

BACKEND_TEST_CASE("a foreign pointer is reported and both resources stay usable",
                  "[vmm_resource][bad_input]") {
  vmm_pmr::test::report_recorder recorder;
  vmm_pmr::vmm_resource resource(TestType::make(), recorder.attach({}));
  vmm_pmr::vmm_resource other(TestType::make());
  void* theirs = other.allocate(100);
  int on_stack = 0;
  resource.deallocate(theirs, 100);
  CHECK_THAT(recorder.last_message(), ContainsSubstring("another resource"));
  resource.deallocate(&on_stack, sizeof on_stack);
  CHECK_THAT(recorder.last_message(), ContainsSubstring("not allocated by this resource"));
  CHECK(other.find(theirs));
  CHECK(resource.stats().deallocation_errors == 2);
  other.deallocate(theirs, 100);
  resource.deallocate(resource.allocate(100), 100);
  CHECK(recorder.bad_deallocations.size() == 2);
}

BACKEND_TEST_CASE("a wrong size is reported and the allocation stays live",
                  "[vmm_resource][bad_input]") {
  vmm_pmr::test::report_recorder recorder;
  vmm_pmr::vmm_resource resource(TestType::make(), recorder.attach({}));
  void* pointer = resource.allocate(1000);
  resource.deallocate(pointer, 999);
  CHECK_THAT(recorder.last_message(), ContainsSubstring("size differs"));
  CHECK(resource.find(pointer));
  resource.deallocate(pointer, 1000);
  CHECK_FALSE(resource.find(pointer));
  CHECK(recorder.bad_deallocations.size() == 1);
}

BACKEND_TEST_CASE("an interior pointer given to deallocate is reported and frees nothing",
                  "[vmm_resource][bad_input]") {
  vmm_pmr::test::report_recorder recorder;
  vmm_pmr::vmm_resource resource(TestType::make(), recorder.attach({}));
  auto* pointer = static_cast<std::byte*>(resource.allocate(1000));
  resource.deallocate(pointer + 16, 1000);
  CHECK_THAT(recorder.last_message(), ContainsSubstring("inside an allocation"));
  resource.deallocate(pointer + 16, 0);  // not a pointer allocate(0) returned
  CHECK(recorder.bad_deallocations.size() == 2);
  CHECK(resource.find(pointer));
  resource.deallocate(pointer, 1000);
}

BACKEND_TEST_CASE("resources compare equal only to themselves", "[vmm_resource]") {
  vmm_pmr::vmm_resource resource(TestType::make());
  vmm_pmr::vmm_resource other(TestType::make());
  CHECK(resource.is_equal(resource));
  CHECK_FALSE(resource.is_equal(other));
  CHECK_FALSE(resource.is_equal(*std::pmr::new_delete_resource()));
}

BACKEND_TEST_CASE("allocations from several threads at once stay consistent", "[vmm_resource]") {
  auto counting = std::make_shared<vmm_pmr::testing::counting_backend>(TestType::make());
  vmm_pmr::vmm_resource resource(counting);
  constexpr int threads = 4;
  constexpr int rounds = 50;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&resource, t] {
      std::vector<std::pair<void*, std::size_t>> held;
      for (int i = 0; i < rounds; ++i) {
        const std::size_t bytes = 4096 * static_cast<std::size_t>((i * 7 + t) % 5 + 1);
        held.emplace_back(resource.allocate(bytes), bytes);
        if (i % 3 == 2) {
          resource.deallocate(held.front().first, held.front().second);
          held.erase(held.begin());
        }
      }
      for (auto [pointer, bytes] : held) resource.deallocate(pointer, bytes);
    });
  }
  for (std::thread& worker : workers) worker.join();
  const vmm_pmr::allocation_stats stats = resource.stats();
  CHECK(stats.live_count == 0);
  CHECK(stats.total_count == threads * rounds);
  CHECK(stats.deallocation_errors == 0);
  CHECK(counting->live() == vmm_pmr::testing::live_objects{});
}
