// device_buffer: growth in place and by remapping on a vmm_resource, allocate + copy +
// free on other resources, shrinking, copy and move, streams, and bad input.
//
// A pointer that must not change is guaranteed by address space reserved ahead, on every
// backend. Without it, growth takes the address behind when the backend gives it (the
// host backend honours the hint; the CUDA driver often places it elsewhere), else moves
// without copying: tests assert the pointer there only on the host backend, and force
// the move with no_room_behind_backend (decorate_for_relocation) on every backend.
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/matchers/catch_matchers_exception.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <cstddef>
#include <cstring>
#include <limits>
#include <memory_resource>
#include <vector>

#include "support/backends_under_test.hpp"
#include "support/growth_fixtures.hpp"
#include "support/printers.hpp"
#include "vmm_pmr/backend/host_backend.hpp"
#include "vmm_pmr/buffer/device_buffer.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/resource/vmm_resource.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"
#include "vmm_pmr/testing/manual_event_backend.hpp"

using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::MessageMatches;
using vmm_pmr::device_buffer;
using vmm_pmr::test::decorate_for_growth;
using vmm_pmr::test::decorate_for_relocation;
using vmm_pmr::test::two_mib;

namespace {

std::vector<std::uint8_t> pattern(std::size_t bytes, std::uint8_t seed) {
  std::vector<std::uint8_t> host(bytes);
  for (std::size_t i = 0; i < bytes; ++i) host[i] = vmm_pmr::test::pattern_byte(i, seed);
  return host;
}

std::vector<std::uint8_t> contents(const device_buffer& buffer, std::size_t bytes) {
  std::vector<std::uint8_t> host(bytes);
  buffer.copy_to_host(host.data(), 0, bytes, buffer.stream());
  return host;
}

// A stream handle for backends where streams are names (host, manual events).
vmm_pmr::stream_view named_stream(std::uintptr_t id) { return reinterpret_cast<CUstream_st*>(id); }

}  // namespace

BACKEND_TEST_CASE(
    "a buffer with address space reserved grows from one granule to many keeping its pointer "
    "and contents",
    "[device_buffer][growth]") {
  auto [counting, faults] = decorate_for_growth(TestType::make());
  vmm_pmr::vmm_resource resource(faults);
  {
    device_buffer buffer(1000, {}, &resource);
    CHECK(buffer.grows_in_place());
    CHECK(buffer.capacity() == two_mib);  // rounded: the granule is mapped anyway
    const auto first = pattern(1000, 2);
    buffer.copy_from_host(0, first.data(), first.size(), {});
    // Reserving may move the buffer once (without copying); growing then never does.
    buffer.reserve_address_space(64 * two_mib);
    CHECK(contents(buffer, 1000) == first);
    void* const data = buffer.data();
    for (std::size_t size = 2 * two_mib + 3; size <= 40 * two_mib; size *= 2) {
      buffer.resize(size, {});
      REQUIRE(buffer.data() == data);
      CHECK(buffer.size() == size);
      CHECK(buffer.capacity() == *vmm_pmr::round_up(size, two_mib));
    }
    CHECK(contents(buffer, 1000) == first);
    const auto info = resource.find(static_cast<std::byte*>(buffer.data()) + buffer.size() - 1);
    REQUIRE(info);
    CHECK(info->chunks.size() == 6);  // one per growth
    CHECK(info->requested_bytes == buffer.capacity());
    CHECK(resource.stats().peak_mapped_bytes == buffer.capacity());  // never copied, never doubled
  }
  CHECK(resource.stats().live_count == 0);
  CHECK(resource.stats().deallocation_errors == 0);
}

BACKEND_TEST_CASE(
    "without reserved address space a buffer grows without copying, moving at most every "
    "other doubling",
    "[device_buffer][growth]") {
  // Whether a growth moves depends on where the driver puts reservations; with every hint
  // refused (the worst case) a move reserves twice the new size, so the next doubling fits.
  const bool refuse_hints = GENERATE(false, true);
  CAPTURE(refuse_hints);
  auto [counting, faults] = refuse_hints ? decorate_for_relocation(TestType::make())
                                         : decorate_for_growth(TestType::make());
  vmm_pmr::vmm_resource resource(faults);
  device_buffer buffer(1000, {}, &resource);
  const auto first = pattern(1000, 3);
  buffer.copy_from_host(0, first.data(), first.size(), {});
  std::size_t growths = 0;
  std::size_t moves = 0;
  for (std::size_t size = 2 * two_mib; size <= 32 * two_mib; size *= 2) {
    const auto before = *resource.find(buffer.data());
    buffer.resize(size, {});
    ++growths;
    const auto after = *resource.find(buffer.data());
    if (after.base != before.base) ++moves;
    // Nothing copied: the old physical chunks, in order, then the new one.
    REQUIRE(after.chunks.size() == before.chunks.size() + 1);
    for (std::size_t i = 0; i < before.chunks.size(); ++i) {
      CHECK(after.chunks[i].handle == before.chunks[i].handle);
    }
  }
  CHECK(moves <= (growths + 1) / 2);
  if (refuse_hints) CHECK(moves == (growths + 1) / 2);
  CHECK(contents(buffer, 1000) == first);
  CHECK(resource.stats().peak_mapped_bytes == buffer.capacity());
}

BACKEND_TEST_CASE("a buffer whose address behind is taken moves without copying its bytes",
                  "[device_buffer][growth]") {
  // Every hint refused: the address behind is as good as taken, on every backend.
  auto [counting, faults] = decorate_for_relocation(TestType::make());
  vmm_pmr::vmm_resource resource(faults);
  device_buffer buffer(3 * two_mib, {}, &resource);
  const auto bytes = pattern(3 * two_mib, 4);
  buffer.copy_from_host(0, bytes.data(), bytes.size(), {});
  const auto before = *resource.find(buffer.data());

  buffer.resize(5 * two_mib, {});
  CHECK(reinterpret_cast<vmm_pmr::address>(buffer.data()) != before.base);
  CHECK(contents(buffer, bytes.size()) == bytes);
  // The same physical memory at a new address.
  CHECK(resource.find(buffer.data())->chunks.front().handle == before.chunks.front().handle);
}

BACKEND_TEST_CASE("address space reserved ahead lets a buffer grow without ever moving",
                  "[device_buffer][growth]") {
  auto [counting, faults] = decorate_for_growth(TestType::make());
  vmm_pmr::vmm_resource resource(faults);
  device_buffer buffer(two_mib, {}, &resource);
  buffer.reserve_address_space(64 * two_mib);
  CHECK(buffer.address_space() == 64 * two_mib);
  void* const data = buffer.data();
  // Whatever lies behind the reserved space does not matter any more.
  const auto info = *resource.find(data);
  const vmm_pmr::address end = info.base + 64 * two_mib;
  const vmm_pmr::address blocker = faults->reserve_address_range(two_mib, 0, end);
  for (std::size_t size = 2 * two_mib; size <= 64 * two_mib; size *= 2) {
    buffer.resize(size, {});
    REQUIRE(buffer.data() == data);
  }
  CHECK(resource.stats().live_mapped_bytes == 64 * two_mib);
  buffer.release();
  faults->free_address_range(blocker, two_mib);
}

BACKEND_TEST_CASE("a buffer made with address space ahead grows into it",
                  "[device_buffer][growth]") {
  vmm_pmr::vmm_resource resource(TestType::make());
  device_buffer buffer;
  buffer = device_buffer(0, {}, &resource);
  buffer.reserve_address_space(8 * two_mib);
  buffer.resize(100, {});
  void* const data = buffer.data();
  CHECK(resource.find(data)->mapped_bytes == two_mib);
  buffer.resize(8 * two_mib, {});
  CHECK(buffer.data() == data);
}

BACKEND_TEST_CASE("shrink_to_fit unmaps and releases the tail of a VMM buffer",
                  "[device_buffer][growth]") {
  auto [counting, faults] = decorate_for_growth(TestType::make());
  vmm_pmr::vmm_resource resource(faults);
  device_buffer buffer(two_mib, {}, &resource);
  buffer.resize(2 * two_mib, {});
  buffer.resize(4 * two_mib, {});
  buffer.resize(8 * two_mib, {});
  const auto bytes = pattern(two_mib + 10, 6);
  buffer.copy_from_host(0, bytes.data(), bytes.size(), {});
  void* const data = buffer.data();
  buffer.resize(two_mib + 10, {});
  CHECK(buffer.capacity() == 8 * two_mib);  // resize never releases
  buffer.shrink_to_fit({});
  CHECK(buffer.data() == data);
  CHECK(buffer.capacity() == 2 * two_mib);
  CHECK(resource.stats().live_mapped_bytes == 2 * two_mib);
  CHECK(contents(buffer, bytes.size()) == bytes);
  buffer.resize(0, {});
  buffer.shrink_to_fit({});
  CHECK(buffer.data() == nullptr);
  CHECK(buffer.capacity() == 0);
  CHECK(resource.stats().live_count == 0);
  buffer.resize(10, {});  // the resource stays
  CHECK(buffer.capacity() == two_mib);
}

TEST_CASE(
    "a buffer on a stream-ordered resource grows by allocating, copying and freeing on its "
    "stream",
    "[device_buffer]") {
  auto events = std::make_shared<vmm_pmr::testing::manual_event_backend>(
      vmm_pmr::test::make_test_host_backend());
  vmm_pmr::stream_ordered_resource pool(events);
  const vmm_pmr::stream_view stream = named_stream(0x1000);
  events->mark_idle(stream);
  {
    device_buffer buffer(1000, stream, &pool);
    CHECK_FALSE(buffer.grows_in_place());
    CHECK(buffer.capacity() == 1000);
    const auto bytes = pattern(1000, 8);
    buffer.copy_from_host(0, bytes.data(), bytes.size(), stream);
    buffer.resize(5000, stream);
    CHECK(buffer.capacity() == 5000);
    CHECK(contents(buffer, 1000) == bytes);
    buffer.shrink_to_fit(stream);
    CHECK(contents(buffer, 1000) == bytes);
    const std::size_t waits = events->synchronizations();
    buffer.release();
    CHECK(events->synchronizations() == waits);  // freed in stream order, no wait
  }
  const auto usage = pool.stream_stats();
  REQUIRE(usage.size() == 1);
  CHECK(usage.front().stream == stream);
  CHECK(pool.stats().live_count == 0);
}

TEST_CASE("a buffer on a view of a stream-ordered resource uses the buffer's stream",
          "[device_buffer]") {
  auto events = std::make_shared<vmm_pmr::testing::manual_event_backend>(
      vmm_pmr::test::make_test_host_backend());
  vmm_pmr::stream_ordered_resource pool(events);
  const vmm_pmr::stream_view view_stream = named_stream(0x2000);
  const vmm_pmr::stream_view buffer_stream = named_stream(0x3000);
  auto view = pool.on_stream(view_stream);
  {
    device_buffer buffer(100, buffer_stream, &view);
    CHECK(buffer.memory_resource() == &view);
  }
  const auto usage = pool.stream_stats();
  REQUIRE(usage.size() == 1);
  CHECK(usage.front().stream == buffer_stream);
}

TEST_CASE("a buffer on a vmm_resource waits for its stream only before memory is unmapped",
          "[device_buffer]") {
  auto events = std::make_shared<vmm_pmr::testing::manual_event_backend>(
      std::make_shared<vmm_pmr::testing::roomy_backend>(vmm_pmr::test::make_test_host_backend()));
  vmm_pmr::vmm_resource resource(events);
  const vmm_pmr::stream_view stream = named_stream(0x4000);
  const std::size_t before = events->synchronizations();
  {
    device_buffer buffer(100, stream, &resource);
    void* const data = buffer.data();
    buffer.resize(3 * two_mib, stream);  // maps behind: no wait
    REQUIRE(buffer.data() == data);
    CHECK(events->synchronizations() == before);

    // Taken behind: the old addresses are unmapped after the stream's work.
    const auto info = *resource.find(data);
    const vmm_pmr::address end = info.base + info.mapped_bytes;
    const vmm_pmr::address blocker = events->reserve_address_range(two_mib, 0, end);
    REQUIRE(blocker == end);
    buffer.resize(4 * two_mib, stream);
    CHECK(buffer.data() != data);
    CHECK(events->synchronizations() == before + 1);
    events->free_address_range(blocker, two_mib);

    buffer.resize(100, stream);
    buffer.shrink_to_fit(stream);  // unmaps the tail
    CHECK(events->synchronizations() == before + 2);
  }
  CHECK(events->synchronizations() == before + 3);  // freed
}

TEST_CASE("a buffer on any other resource allocates, copies and frees", "[device_buffer]") {
  std::pmr::memory_resource* heap = std::pmr::new_delete_resource();
  device_buffer buffer(100, {}, heap);
  CHECK_FALSE(buffer.grows_in_place());
  const auto bytes = pattern(100, 10);
  buffer.copy_from_host(0, bytes.data(), bytes.size(), {});
  void* const data = buffer.data();
  buffer.resize(1 << 20, {});
  CHECK(buffer.data() != data);
  CHECK(contents(buffer, 100) == bytes);
  CHECK(std::memcmp(buffer.data(), bytes.data(), bytes.size()) == 0);  // host memory here
}

BACKEND_TEST_CASE("copying a buffer needs a stream and gives independent bytes",
                  "[device_buffer]") {
  vmm_pmr::vmm_resource resource(TestType::make());
  vmm_pmr::vmm_resource elsewhere(TestType::make());
  device_buffer original(5000, {}, &resource);
  const auto bytes = pattern(5000, 12);
  original.copy_from_host(0, bytes.data(), bytes.size(), {});

  device_buffer copy(original, {});
  CHECK(copy.data() != original.data());
  CHECK(copy.size() == 5000);
  CHECK(copy.memory_resource() == &resource);
  CHECK(contents(copy, 5000) == bytes);
  const auto other = pattern(5000, 13);
  copy.copy_from_host(0, other.data(), other.size(), {});
  CHECK(contents(original, 5000) == bytes);

  device_buffer moved_over(original, {}, &elsewhere);
  CHECK(moved_over.memory_resource() == &elsewhere);
  CHECK(elsewhere.find(moved_over.data()));
  CHECK(contents(moved_over, 5000) == bytes);
}

BACKEND_TEST_CASE("moving a buffer leaves the source empty, with no resource", "[device_buffer]") {
  vmm_pmr::vmm_resource resource(TestType::make());
  device_buffer source(5000, {}, &resource);
  void* const data = source.data();
  device_buffer target(std::move(source));
  CHECK(target.data() == data);
  CHECK(target.size() == 5000);
  CHECK(source.data() == nullptr);  // NOLINT(bugprone-use-after-move): the point of the test
  CHECK(source.size() == 0);
  CHECK(source.capacity() == 0);
  CHECK(source.memory_resource() == nullptr);

  device_buffer other(100, {}, &resource);
  CHECK(resource.stats().live_count == 2);
  other = std::move(target);  // frees what `other` held
  CHECK(resource.stats().live_count == 1);
  CHECK(other.data() == data);
  static_assert(std::is_nothrow_move_constructible_v<device_buffer>);
  static_assert(std::is_nothrow_move_assignable_v<device_buffer>);
  static_assert(!std::is_copy_constructible_v<device_buffer>);
}

BACKEND_TEST_CASE("bad input to a buffer gives a clear error and leaves it unchanged",
                  "[device_buffer]") {
  vmm_pmr::vmm_resource resource(TestType::make());
  device_buffer buffer(100, {}, &resource);
  void* const data = buffer.data();
  std::vector<std::uint8_t> host(200);

  CHECK_THROWS_MATCHES(buffer.resize(std::numeric_limits<std::size_t>::max(), {}),
                       vmm_pmr::out_of_memory, MessageMatches(ContainsSubstring("overflows")));
  CHECK_THROWS_MATCHES(
      buffer.copy_from_host(50, host.data(), 51, {}), vmm_pmr::out_of_range,
      MessageMatches(ContainsSubstring("[50, 50 + 51)") && ContainsSubstring("100 bytes")));
  CHECK_THROWS_AS(buffer.copy_to_host(host.data(), 101, 0, {}), vmm_pmr::out_of_range);
  CHECK(buffer.data() == data);
  CHECK(buffer.size() == 100);

  device_buffer moved(std::move(buffer));
  CHECK_THROWS_MATCHES(buffer.resize(10, {}), vmm_pmr::invalid_argument,  // NOLINT
                       MessageMatches(ContainsSubstring("no memory resource")));
  CHECK_THROWS_AS(buffer.reserve(10, {}), vmm_pmr::invalid_argument);
  CHECK_THROWS_MATCHES(device_buffer(buffer, {}), vmm_pmr::invalid_argument,
                       MessageMatches(ContainsSubstring("no memory resource")));
  moved.release();
  CHECK_THROWS_AS(moved.resize(10, {}), vmm_pmr::invalid_argument);
  CHECK(resource.stats().live_count == 0);
}
