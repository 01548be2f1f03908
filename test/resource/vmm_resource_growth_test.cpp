// vmm_resource::grow and shrink: growth behind the current mapping, growth by remapping
// when the address behind is taken, address space reserved ahead, shrinking, and the
// registry's view of a grown allocation.
//
// Only address space reserved ahead keeps the pointer on every backend. Growth behind
// via a hint is asserted on the host backend, which honours a hint at a free address
// every time; the CUDA driver takes a hint as a wish (it packs reservations back to back
// and refuses some hints at free addresses), so on a GPU the hint path is held to what
// the driver guarantees: contents kept, same physical memory, pointer same or moved.
// Growth by remapping runs through no_room_behind_backend, on every backend.
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/matchers/catch_matchers_exception.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <atomic>
#include <cstddef>
#include <limits>
#include <thread>
#include <vector>

#include "support/backends_under_test.hpp"
#include "support/growth_fixtures.hpp"
#include "support/printers.hpp"
#include "support/resource_fixtures.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/registry/mapping_registry.hpp"
#include "vmm_pmr/resource/vmm_resource.hpp"

using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::MessageMatches;
using vmm_pmr::test::decorate_for_growth;
using vmm_pmr::test::decorate_for_relocation;
using vmm_pmr::test::holds_pattern;
using vmm_pmr::test::two_mib;
using vmm_pmr::test::write_pattern;
using vmm_pmr::testing::backend_call;

namespace {

std::byte* at(void* base, std::size_t offset) { return static_cast<std::byte*>(base) + offset; }

}  // namespace

TEST_CASE(
    "on the host backend, growth takes the free address behind via a hint and keeps the pointer",
    "[vmm_resource][growth]") {
  auto [counting, faults] = decorate_for_growth(on_host::make());
  const auto baseline = counting->live();
  {
    vmm_pmr::vmm_resource resource(faults);
    const auto before_allocation = counting->live();
    std::size_t size = two_mib;
    void* p = resource.allocate(size);
    write_pattern(resource.driver(), p, 0, size, 1);
    for (const std::size_t grown : {2 * two_mib, 3 * two_mib + 5, 5 * two_mib, 8 * two_mib}) {
      const std::size_t mapped_before = resource.find(p)->mapped_bytes;
      void* q = resource.grow(p, size, grown);
      REQUIRE(q == p);
      CHECK(holds_pattern(resource.driver(), p, 0, size, 1));
      write_pattern(resource.driver(), p, size, grown - size, 1);
      CHECK(resource.find(p)->mapped_bytes == *vmm_pmr::round_up(grown, two_mib));
      CHECK(resource.find(p)->mapped_bytes > mapped_before);
      size = grown;
    }
    CHECK(holds_pattern(resource.driver(), p, 0, size, 1));

    // One allocation of several chunks: any interior pointer finds it.
    const auto info = resource.find(at(p, size - 1));
    REQUIRE(info);
    CHECK(info->base == reinterpret_cast<vmm_pmr::address>(p));
    CHECK(info->requested_bytes == size);
    CHECK(info->mapped_bytes == 8 * two_mib);
    CHECK(info->chunks.size() == 5);
    CHECK(info->reservations.size() == 5);  // each growth reserved right behind the last
    CHECK(resource.live_allocations().size() == 1);
    const auto stats = resource.stats();
    CHECK(stats.live_count == 1);
    CHECK(stats.live_bytes == size);
    CHECK(stats.live_mapped_bytes == 8 * two_mib);
    CHECK(stats.peak_mapped_bytes == 8 * two_mib);  // nothing mapped twice on the way
    CHECK(resource.access(at(p, size - 1), 0) == vmm_pmr::access_mode::read_write);

    resource.deallocate(p, size);
    CHECK(counting->live() == before_allocation);  // every chunk and reservation freed
    CHECK(resource.stats().live_mapped_bytes == 0);
  }
  CHECK(counting->live() == baseline);
}

BACKEND_TEST_CASE(
    "growth without reserved address space keeps the contents and the physical memory, moving "
    "at most every other doubling",
    "[vmm_resource][growth]") {
  // Where the driver puts reservations decides whether each growth moves: the assertions
  // hold either way, and with every hint refused (the worst case) too.
  const bool refuse_hints = GENERATE(false, true);
  CAPTURE(refuse_hints);
  auto [counting, faults] = refuse_hints ? decorate_for_relocation(TestType::make())
                                         : decorate_for_growth(TestType::make());
  vmm_pmr::vmm_resource resource(faults);
  std::size_t size = two_mib;
  void* p = resource.allocate(size);
  write_pattern(resource.driver(), p, 0, size, 13);
  std::size_t growths = 0;
  std::size_t moves = 0;
  for (std::size_t granules = 2; granules <= 32; granules *= 2) {
    const auto before = *resource.find(p);
    void* q = resource.grow(p, size, granules * two_mib);
    ++growths;
    if (q != p) ++moves;
    const auto after = *resource.find(q);
    // Nothing copied: the old physical chunks, in order, then the new one.
    REQUIRE(after.chunks.size() == before.chunks.size() + 1);
    for (std::size_t i = 0; i < before.chunks.size(); ++i) {
      CHECK(after.chunks[i].handle == before.chunks[i].handle);
    }
    CHECK(holds_pattern(resource.driver(), q, 0, size, 13));
    write_pattern(resource.driver(), q, size, granules * two_mib - size, 13);
    p = q;
    size = granules * two_mib;
  }
  // A move reserves twice the new size, so the next doubling fits.
  CHECK(moves <= (growths + 1) / 2);
  if (refuse_hints) CHECK(moves == (growths + 1) / 2);
  CHECK(holds_pattern(resource.driver(), p, 0, size, 13));
  CHECK(resource.stats().peak_mapped_bytes == size);  // never mapped twice
  resource.deallocate(p, size);
  CHECK(resource.stats().live_count == 0);
}

BACKEND_TEST_CASE("grow remaps the same physical memory when the address behind is taken",
                  "[vmm_resource][growth]") {
  // Every hint refused: the address behind is as good as taken, on every backend.
  auto [counting, faults] = decorate_for_relocation(TestType::make());
  vmm_pmr::vmm_resource resource(faults);
  const auto baseline = counting->live();
  void* p = resource.allocate(3 * two_mib);
  write_pattern(resource.driver(), p, 0, 3 * two_mib, 7);
  const auto before = *resource.find(p);

  void* q = resource.grow(p, 3 * two_mib, 4 * two_mib);
  CHECK(q != p);
  CHECK(holds_pattern(resource.driver(), q, 0, 3 * two_mib, 7));
  const auto after = *resource.find(q);
  // The old physical memory, now at the new address: nothing was copied.
  REQUIRE(after.chunks.size() == 2);
  CHECK(after.chunks[0].handle == before.chunks[0].handle);
  CHECK(after.chunks[0].base == reinterpret_cast<vmm_pmr::address>(q));
  CHECK(after.mapped_bytes == 4 * two_mib);
  CHECK_FALSE(resource.find(p));
  CHECK(resource.stats().live_mapped_bytes == 4 * two_mib);
  write_pattern(resource.driver(), q, 3 * two_mib, two_mib, 7);
  CHECK(holds_pattern(resource.driver(), q, 0, 4 * two_mib, 7));

  // It reserved room to grow: the next growth stays where it is.
  CHECK(resource.grow(q, 4 * two_mib, 6 * two_mib) == q);
  CHECK(holds_pattern(resource.driver(), q, 0, 4 * two_mib, 7));

  resource.deallocate(q, 6 * two_mib);
  CHECK(counting->live() == baseline);
}

BACKEND_TEST_CASE("address space reserved ahead lets an allocation grow without reserving again",
                  "[vmm_resource][growth]") {
  auto [counting, faults] = decorate_for_growth(TestType::make());
  vmm_pmr::vmm_resource resource(faults);
  const auto baseline = counting->live();
  void* p = resource.allocate_with_address_space(100, 16 * two_mib);
  CHECK(resource.find(p)->mapped_bytes == two_mib);
  write_pattern(resource.driver(), p, 0, 100, 3);
  const std::size_t reservations = faults->calls(backend_call::reserve_address_range);
  std::size_t size = 100;
  for (std::size_t granules = 2; granules <= 16; granules *= 2) {
    REQUIRE(resource.grow(p, size, granules * two_mib) == p);
    size = granules * two_mib;
  }
  CHECK(faults->calls(backend_call::reserve_address_range) == reservations);
  CHECK(holds_pattern(resource.driver(), p, 0, 100, 3));
  CHECK(resource.find(p)->chunks.size() == 5);  // 1 + 1 + 2 + 4 + 8 granules
  resource.deallocate(p, size);
  CHECK(counting->live() == baseline);
}

BACKEND_TEST_CASE("grow can reserve address space without mapping more", "[vmm_resource][growth]") {
  auto [counting, faults] = decorate_for_growth(TestType::make());
  vmm_pmr::vmm_resource resource(faults);
  void* p = resource.allocate(two_mib);
  write_pattern(resource.driver(), p, 0, two_mib, 17);
  const auto mapped = counting->live().mapped_bytes;
  // Behind via a hint, or elsewhere (the same physical memory mapped again) if the
  // driver placed the reservation there.
  p = resource.grow(p, two_mib, two_mib, {}, 8 * two_mib);
  CHECK(counting->live().mapped_bytes == mapped);
  CHECK(holds_pattern(resource.driver(), p, 0, two_mib, 17));
  const std::size_t reservations = faults->calls(backend_call::reserve_address_range);
  REQUIRE(resource.grow(p, two_mib, 8 * two_mib) == p);
  CHECK(faults->calls(backend_call::reserve_address_range) == reservations);
  resource.deallocate(p, 8 * two_mib);
}

BACKEND_TEST_CASE("shrink releases the chunks wholly past the new size and keeps the rest",
                  "[vmm_resource][growth]") {
  auto [counting, faults] = decorate_for_growth(TestType::make());
  vmm_pmr::vmm_resource resource(faults);
  const auto baseline = counting->live();
  void* p = resource.allocate_with_address_space(two_mib, 4 * two_mib);
  REQUIRE(resource.grow(p, two_mib, 2 * two_mib) == p);      // chunks: 1 + 1 granules
  REQUIRE(resource.grow(p, 2 * two_mib, 4 * two_mib) == p);  // + 2 granules
  write_pattern(resource.driver(), p, 0, 4 * two_mib, 9);
  const auto mapped_before = counting->live();

  // 1.5 granules are in the first two chunks: the third (2 granules) goes.
  CHECK(resource.shrink(p, 4 * two_mib, two_mib + two_mib / 2) == 2 * two_mib);
  CHECK(counting->live().mappings == mapped_before.mappings - 1);
  CHECK(counting->live().physical_bytes == mapped_before.physical_bytes - 2 * two_mib);
  CHECK(counting->live().reservations == mapped_before.reservations);  // address space stays
  CHECK(holds_pattern(resource.driver(), p, 0, two_mib + two_mib / 2, 9));
  const auto info = *resource.find(p);
  CHECK(info.requested_bytes == two_mib + two_mib / 2);
  CHECK(info.mapped_bytes == 2 * two_mib);
  CHECK(resource.stats().live_mapped_bytes == 2 * two_mib);
  CHECK_FALSE(resource.find(at(p, 3 * two_mib)));

  // Nothing wholly past the new size: nothing released.
  CHECK(resource.shrink(p, two_mib + two_mib / 2, two_mib + 1) == 0);
  // It grows back in place, into the address space it kept.
  CHECK(resource.grow(p, two_mib + 1, 4 * two_mib) == p);
  CHECK(holds_pattern(resource.driver(), p, 0, two_mib + 1, 9));
  resource.deallocate(p, 4 * two_mib);
  CHECK(counting->live() == baseline);
}

BACKEND_TEST_CASE("grow and shrink refuse bad input and change nothing", "[vmm_resource][growth]") {
  vmm_pmr::vmm_resource resource(TestType::make());
  vmm_pmr::vmm_resource other(TestType::make());
  void* p = resource.allocate(3 * two_mib);
  void* foreign = other.allocate(two_mib);
  const auto before = resource.stats();
  using vmm_pmr::invalid_argument;

  CHECK_THROWS_MATCHES(resource.grow(p, 2 * two_mib, 4 * two_mib), invalid_argument,
                       MessageMatches(ContainsSubstring("6 MiB large, not 4 MiB")));
  CHECK_THROWS_MATCHES(resource.grow(at(p, 4096), 3 * two_mib, 4 * two_mib), invalid_argument,
                       MessageMatches(ContainsSubstring("interior pointer")));
  CHECK_THROWS_MATCHES(resource.grow(foreign, two_mib, 4 * two_mib), invalid_argument,
                       MessageMatches(ContainsSubstring("another resource")));
  CHECK_THROWS_MATCHES(resource.grow(p, 3 * two_mib, two_mib), invalid_argument,
                       MessageMatches(ContainsSubstring("smaller")));
  CHECK_THROWS_MATCHES(resource.grow(p, 0, two_mib), invalid_argument,
                       MessageMatches(ContainsSubstring("zero-byte")));
  CHECK_THROWS_MATCHES(resource.grow(p, 3 * two_mib, std::numeric_limits<std::size_t>::max()),
                       vmm_pmr::out_of_memory, MessageMatches(ContainsSubstring("overflows")));
  CHECK_THROWS_MATCHES(resource.shrink(p, 3 * two_mib, 4 * two_mib), invalid_argument,
                       MessageMatches(ContainsSubstring("larger")));
  CHECK_THROWS_MATCHES(resource.shrink(p, 3 * two_mib, 0), invalid_argument,
                       MessageMatches(ContainsSubstring("deallocate")));
  CHECK_THROWS_AS(resource.shrink(p, two_mib, 1), invalid_argument);

  CHECK(resource.stats() == before);
  CHECK(resource.find(p)->requested_bytes == 3 * two_mib);
  resource.deallocate(p, 3 * two_mib);
  other.deallocate(foreign, two_mib);
  CHECK(resource.stats().deallocation_errors == 0);
}

TEST_CASE(
    "on the host backend, no mapping spans two reservations when growth fills one and reserves "
    "the address behind via a hint",
    "[vmm_resource][growth]") {
  auto [counting, faults] = decorate_for_growth(on_host::make());
  vmm_pmr::vmm_resource resource(faults);
  void* p = resource.allocate_with_address_space(two_mib, 2 * two_mib);
  write_pattern(resource.driver(), p, 0, two_mib, 11);
  REQUIRE(resource.grow(p, two_mib, 4 * two_mib) == p);
  const auto info = *resource.find(p);
  // The reservation's free granule, then two granules in the reservation behind it.
  REQUIRE(info.chunks.size() == 3);
  CHECK(info.chunks[1].size == two_mib);
  CHECK(info.chunks[2].size == 2 * two_mib);
  CHECK(counting->live().reservations >= 2);
  write_pattern(resource.driver(), p, two_mib, 3 * two_mib, 11);
  CHECK(holds_pattern(resource.driver(), p, 0, 4 * two_mib, 11));
  REQUIRE(info.reservations.size() == 2);
  CHECK(info.reservations[1].base == info.chunks[2].base);
  // Access over the grown allocation: one call per contiguous run of chunks inside one
  // reservation.
  const vmm_pmr::access_grant read_only[] = {{0, vmm_pmr::access_mode::read}};
  const std::size_t calls = faults->calls(backend_call::set_access);
  resource.set_access(p, read_only);
  CHECK(faults->calls(backend_call::set_access) - calls == 2);
  CHECK(resource.access(at(p, 4 * two_mib - 1), 0) == vmm_pmr::access_mode::read);
  resource.deallocate(p, 4 * two_mib);
}

TEST_CASE("lookups from other threads stay right while an allocation grows, moves and shrinks",
          "[vmm_resource][growth]") {
  auto [counting, faults] = decorate_for_growth(vmm_pmr::test::make_test_host_backend());
  vmm_pmr::vmm_resource resource(faults);
  void* neighbour = resource.allocate(3 * two_mib);
  std::atomic<bool> done = false;
  std::atomic<std::size_t> wrong = 0;
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (!done) {
        const auto info = resource.find(at(neighbour, 3 * two_mib - 1));
        if (!info || info->base != reinterpret_cast<vmm_pmr::address>(neighbour)) ++wrong;
        (void)vmm_pmr::mapping_registry::global().stats();
      }
    });
  }
  for (int i = 0; i < 40; ++i) {
    void* p = resource.allocate(two_mib);
    vmm_pmr::address blocker = 0;
    if (i % 2 == 1) {  // every other growth has to move
      blocker = faults->reserve_address_range(two_mib, 0,
                                              reinterpret_cast<vmm_pmr::address>(p) + two_mib);
    }
    p = resource.grow(p, two_mib, 3 * two_mib);
    CHECK(resource.find(at(p, 3 * two_mib - 1))->base == reinterpret_cast<vmm_pmr::address>(p));
    resource.shrink(p, 3 * two_mib, two_mib);
    resource.deallocate(p, two_mib);
    if (blocker != 0) faults->free_address_range(blocker, two_mib);
  }
  done = true;
  for (std::thread& reader : readers) reader.join();
  CHECK(wrong == 0);
  resource.deallocate(neighbour, 3 * two_mib);
  CHECK(resource.stats().live_count == 0);
}
