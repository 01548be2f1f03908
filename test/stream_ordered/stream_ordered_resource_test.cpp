// stream_ordered_resource: reuse, stream ordering, coalescing, alignment, trimming,
// statistics, bad input, graph capture and the std::pmr faces. On the host backend
// under manual_event_backend (events complete when a test says so), plus the shared
// cases that also run on a GPU.
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/matchers/catch_matchers_exception.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory_resource>
#include <utility>
#include <vector>

#include "support/backends_under_test.hpp"
#include "support/printers.hpp"
#include "support/stream_ordered_harness.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/registry/mapping_registry.hpp"
#include "vmm_pmr/resource/vmm_resource.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"

using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::MessageMatches;
using vmm_pmr::stream_ordered_options;
using vmm_pmr::stream_ordered_resource;
using vmm_pmr::stream_view;
using vmm_pmr::test::as_address;
using vmm_pmr::test::granule_chunks;
using vmm_pmr::test::stream_ordered_harness;
using vmm_pmr::test::test_stream;
using vmm_pmr::test::two_mib;

namespace {

constexpr std::size_t kib = std::size_t{1} << 10;
constexpr std::size_t mib = std::size_t{1} << 20;

const stream_view stream_a = test_stream(0xa0);
const stream_view stream_b = test_stream(0xb0);
const stream_view stream_c = test_stream(0xc0);

// Writes a pattern through the backend and reads it back (device memory included).
void check_round_trip(vmm_pmr::backend& driver, void* pointer, std::size_t bytes) {
  const std::size_t probe = std::min<std::size_t>(bytes, 4096);
  std::vector<unsigned char> written(probe), read(probe, 0);
  for (std::size_t i = 0; i < probe; ++i) written[i] = static_cast<unsigned char>(i * 7 + 3);
  driver.copy_from_host(as_address(pointer), written.data(), probe);
  driver.copy_to_host(read.data(), as_address(pointer), probe);
  CHECK(read == written);
}

vmm_pmr::stream_usage usage_of(const stream_ordered_resource& resource, stream_view stream) {
  for (const vmm_pmr::stream_usage& usage : resource.stream_stats()) {
    if (usage.stream == stream) return usage;
  }
  return {};
}

}  // namespace

// ---- reuse on one stream ----

TEST_CASE("a block freed on a stream is reused by that stream at once, with no driver call",
          "[stream_ordered]") {
  stream_ordered_harness harness;
  auto resource = harness.make();
  void* first = resource->allocate(1000, stream_a);
  resource->deallocate(first, 1000, stream_a);
  const std::size_t vmm_calls = harness.faults->total_calls();
  const std::size_t stream_calls = harness.events->stream_calls();
  for (int i = 0; i < 100; ++i) {
    void* again = resource->allocate(1000, stream_a);
    CHECK(again == first);
    resource->deallocate(again, 1000, stream_a);
  }
  CHECK(harness.faults->total_calls() == vmm_calls);
  CHECK(harness.events->stream_calls() == stream_calls);
  CHECK(resource->stats().same_stream_reuses >= 100);
}

BACKEND_TEST_CASE("same-stream reuse returns the same block for 256 B, 1 MiB and 64 MiB",
                  "[stream_ordered]") {
  auto counting = std::make_shared<vmm_pmr::testing::counting_backend>(TestType::make());
  stream_ordered_resource resource(counting);
  for (const std::size_t bytes : {std::size_t{256}, mib, 64 * mib}) {
    CAPTURE(bytes);
    void* first = resource.allocate(bytes, stream_view{});
    check_round_trip(*counting, first, bytes);
    resource.deallocate(first, bytes, stream_view{});
    const auto chunks = resource.stats().chunks_mapped;
    void* again = resource.allocate(bytes, stream_view{});
    CHECK(again == first);
    CHECK(resource.stats().chunks_mapped == chunks);
    resource.deallocate(again, bytes, stream_view{});
  }
  CHECK(vmm_pmr::test::bytes_add_up(resource, *counting));
}

// ---- ordering across streams ----

TEST_CASE("a block freed on stream A reaches stream B only after B waits for A's event",
          "[stream_ordered][ordering]") {
  stream_ordered_harness harness;
  auto resource = harness.make();
  void* block = resource->allocate(two_mib, stream_a);
  resource->deallocate(block, two_mib, stream_a);
  const std::uint64_t freed_at = harness.events->clock();

  void* reused = resource->allocate(two_mib, stream_b);
  CHECK(reused == block);
  const auto waits = harness.events->waits();
  REQUIRE(waits.size() == 1);
  CHECK(waits.front().waiting == stream_b);
  CHECK(waits.front().recorded_on == stream_a);
  CHECK(waits.front().recorded_at > freed_at);
  CHECK(resource->stats().stream_waits == 1);
  CHECK(resource->stats().chunks_mapped == 1);
  resource->deallocate(reused, two_mib, stream_b);
}

TEST_CASE("a block whose freeing stream has finished reaches another stream without a wait",
          "[stream_ordered][ordering]") {
  stream_ordered_harness harness;
  auto resource = harness.make();
  void* block = resource->allocate(two_mib, stream_a);
  resource->deallocate(block, two_mib, stream_a);
  harness.events->mark_idle(stream_a);

  void* reused = resource->allocate(two_mib, stream_b);
  CHECK(reused == block);
  CHECK(harness.events->waits().empty());
  CHECK(resource->stats().completed_stream_reuses == 1);
  resource->deallocate(reused, two_mib, stream_b);
}

TEST_CASE("a stream takes more of a stream it already waited for without waiting again",
          "[stream_ordered][ordering]") {
  stream_ordered_harness harness;
  auto resource = harness.make();
  void* first = resource->allocate(mib, stream_a);
  void* second = resource->allocate(mib, stream_a);
  resource->deallocate(first, mib, stream_a);
  resource->deallocate(second, mib, stream_a);

  void* x = resource->allocate(mib, stream_b);
  void* y = resource->allocate(mib, stream_b);
  CHECK(harness.events->waits().size() == 1);
  CHECK(resource->stats().waited_stream_reuses == 2);
  CHECK(resource->stats().chunks_mapped == 1);
  resource->deallocate(x, mib, stream_b);
  resource->deallocate(y, mib, stream_b);
}

TEST_CASE("a block freed after B waited is not covered by that wait",
          "[stream_ordered][ordering]") {
  stream_ordered_harness harness;
  auto resource = harness.make(granule_chunks());
  void* first = resource->allocate(two_mib, stream_a);
  void* second = resource->allocate(two_mib, stream_a);
  resource->deallocate(first, two_mib, stream_a);
  void* taken = resource->allocate(two_mib, stream_b);  // waits for A, covering `first`
  REQUIRE(harness.events->waits().size() == 1);
  resource->deallocate(second, two_mib, stream_a);  // freed after that record

  void* next = resource->allocate(two_mib, stream_b);
  CHECK(next == second);
  const auto waits = harness.events->waits();
  REQUIRE(waits.size() == 2);
  CHECK(waits.back().recorded_at > waits.front().at);
  resource->deallocate(taken, two_mib, stream_b);
  resource->deallocate(next, two_mib, stream_b);
}

TEST_CASE("settle(stream) lets every stream reuse its blocks without a wait",
          "[stream_ordered][ordering]") {
  stream_ordered_harness harness;
  auto resource = harness.make();
  void* block = resource->allocate(two_mib, stream_a);
  resource->deallocate(block, two_mib, stream_a);
  resource->settle(stream_a);
  CHECK(harness.events->synchronizations() == 1);
  void* reused = resource->allocate(two_mib, stream_b);
  CHECK(reused == block);
  CHECK(harness.events->waits().empty());
  CHECK(resource->stats().settled_reuses == 1);
  resource->deallocate(reused, two_mib, stream_b);
}

// ---- coalescing ----

TEST_CASE("adjacent free blocks of one stream merge into one", "[stream_ordered][coalescing]") {
  stream_ordered_harness harness;
  auto resource = harness.make();
  std::vector<void*> quarters;
  for (int i = 0; i < 4; ++i) quarters.push_back(resource->allocate(512 * kib, stream_a));
  for (int i = 1; i < 4; ++i) {
    CHECK(as_address(quarters[i]) == as_address(quarters[0]) + i * 512 * kib);
  }
  for (void* quarter : quarters) resource->deallocate(quarter, 512 * kib, stream_a);

  void* whole = resource->allocate(two_mib, stream_a);
  CHECK(whole == quarters[0]);
  CHECK(resource->stats().chunks_mapped == 1);
  resource->deallocate(whole, two_mib, stream_a);
}

TEST_CASE("free blocks of two streams do not merge while either may still be using them",
          "[stream_ordered][coalescing]") {
  stream_ordered_harness harness;
  auto resource = harness.make();
  void* left = resource->allocate(mib, stream_a);
  void* right = resource->allocate(mib, stream_a);
  REQUIRE(as_address(right) == as_address(left) + mib);
  resource->deallocate(left, mib, stream_a);
  resource->deallocate(right, mib, stream_b);

  void* whole = resource->allocate(two_mib, stream_c);
  CHECK(whole != left);
  CHECK(resource->stats().chunks_mapped == 2);
  CHECK(harness.events->waits().empty());
  resource->deallocate(whole, two_mib, stream_c);
}

TEST_CASE("once both streams are done, their free blocks merge and serve a larger request",
          "[stream_ordered][coalescing]") {
  stream_ordered_harness harness;
  auto resource = harness.make();
  void* left = resource->allocate(mib, stream_a);
  void* right = resource->allocate(mib, stream_a);
  resource->deallocate(left, mib, stream_a);
  resource->deallocate(right, mib, stream_b);
  harness.events->mark_idle(stream_a);
  harness.events->mark_idle(stream_b);

  void* whole = resource->allocate(two_mib, stream_c);
  CHECK(whole == left);
  CHECK(resource->stats().chunks_mapped == 1);
  CHECK(harness.events->waits().empty());
  resource->deallocate(whole, two_mib, stream_c);
}

TEST_CASE("a block freed next to a settled one also merges with the stream's block beyond it",
          "[stream_ordered][coalescing]") {
  stream_ordered_harness harness;
  auto resource = harness.make(granule_chunks());
  // One chunk: [wide | middle | right]; the front of `wide` is then taken again, leaving its
  // tail free in stream A's list: [front (live) | tail (A) | middle | right].
  void* wide = resource->allocate(mib, stream_a);
  void* middle = resource->allocate(mib / 2, stream_a);
  void* right = resource->allocate(mib / 2, stream_a);
  REQUIRE(as_address(right) + mib / 2 == as_address(wide) + two_mib);
  resource->deallocate(wide, mib, stream_a);
  void* front = resource->allocate(256, stream_a);
  REQUIRE(front == wide);
  // The middle settles beside A's tail (settled blocks merge only with settled ones).
  resource->deallocate(middle, mib / 2, stream_b);
  resource->settle(stream_b);
  resource->deallocate(right, mib / 2, stream_a);
  REQUIRE(resource->check_invariants() == "");

  // Freeing `right` on A merges it with the settled middle and, past it, with A's tail.
  void* rest = resource->allocate(two_mib - 256, stream_a);
  CHECK(as_address(rest) == as_address(front) + 256);
  CHECK(resource->stats().chunks_mapped == 1);
  CHECK(resource->check_invariants() == "");
  resource->deallocate(rest, two_mib - 256, stream_a);
  resource->deallocate(front, 256, stream_a);
}

TEST_CASE("a request gets the smallest free block that holds it, the lowest among equals",
          "[stream_ordered][coalescing]") {
  stream_ordered_harness harness;
  auto resource = harness.make();
  // Live separators keep the free blocks from merging.
  const std::size_t sizes[] = {256 * kib, 64 * kib, 128 * kib, 64 * kib, 128 * kib, 64 * kib};
  std::vector<void*> blocks;
  for (std::size_t size : sizes) blocks.push_back(resource->allocate(size, stream_a));
  resource->deallocate(blocks[4], 128 * kib, stream_a);
  resource->deallocate(blocks[0], 256 * kib, stream_a);
  resource->deallocate(blocks[2], 128 * kib, stream_a);

  void* first = resource->allocate(100 * kib, stream_a);
  void* second = resource->allocate(100 * kib, stream_a);
  CHECK(first == blocks[2]);
  CHECK(second == blocks[4]);
  CHECK(resource->stats().chunks_mapped == 1);
  resource->deallocate(first, 100 * kib, stream_a);
  resource->deallocate(second, 100 * kib, stream_a);
  for (std::size_t i : {1, 3, 5}) resource->deallocate(blocks[i], sizes[i], stream_a);
}

TEST_CASE("a settled block that fits better wins over a larger block of the stream's own",
          "[stream_ordered][coalescing]") {
  stream_ordered_harness harness;
  auto resource = harness.make();
  const std::size_t sizes[] = {256 * kib, 64 * kib, 128 * kib, 64 * kib};
  std::vector<void*> blocks;
  for (std::size_t size : sizes) blocks.push_back(resource->allocate(size, stream_a));
  resource->deallocate(blocks[2], 128 * kib, stream_b);
  harness.events->mark_idle(stream_b);
  resource->settle(stream_b);                            // 128 KiB, settled
  resource->deallocate(blocks[0], 256 * kib, stream_a);  // 256 KiB, stream A's own

  const std::size_t settled_reuses = resource->stats().settled_reuses;
  void* taken = resource->allocate(128 * kib, stream_a);
  CHECK(taken == blocks[2]);
  CHECK(resource->stats().settled_reuses == settled_reuses + 1);
  void* own = resource->allocate(256 * kib, stream_a);
  CHECK(own == blocks[0]);
  resource->deallocate(taken, 128 * kib, stream_a);
  resource->deallocate(own, 256 * kib, stream_a);
  for (std::size_t i : {1, 3}) resource->deallocate(blocks[i], sizes[i], stream_a);
}

TEST_CASE("blocks span chunk boundaries: adjacent chunks serve one request",
          "[stream_ordered][coalescing]") {
  stream_ordered_harness harness;
  auto resource = harness.make(granule_chunks());
  void* first = resource->allocate(two_mib, stream_a);
  void* second = resource->allocate(two_mib, stream_a);
  REQUIRE(as_address(second) == as_address(first) + two_mib);
  resource->deallocate(first, two_mib, stream_a);
  resource->deallocate(second, two_mib, stream_a);

  void* spanning = resource->allocate(two_mib + mib, stream_a);
  CHECK(spanning == first);
  CHECK(resource->stats().chunks_mapped == 2);
  std::memset(spanning, 0x5a, two_mib + mib);  // host memory: every byte is really there
  resource->deallocate(spanning, two_mib + mib, stream_a);
}

TEST_CASE("growth extends a free block at the end instead of leaving it behind",
          "[stream_ordered][coalescing]") {
  stream_ordered_harness harness;
  auto resource = harness.make(granule_chunks());
  void* head = resource->allocate(mib, stream_a);
  void* big = resource->allocate(3 * mib, stream_a);
  // The first chunk's free megabyte plus one new chunk: no 4 MiB of new memory.
  CHECK(as_address(big) == as_address(head) + mib);
  CHECK(resource->stats().mapped_bytes == 2 * two_mib);
  resource->deallocate(head, mib, stream_a);
  resource->deallocate(big, 3 * mib, stream_a);
}

// ---- alignment and sizes ----

BACKEND_TEST_CASE("any power-of-two alignment is honoured, up to 1 GiB",
                  "[stream_ordered][alignment]") {
  auto counting = std::make_shared<vmm_pmr::testing::counting_backend>(TestType::make());
  stream_ordered_resource resource(counting);
  for (const std::size_t alignment :
       {std::size_t{1}, std::size_t{256}, 4 * kib, mib, two_mib, 64 * mib, std::size_t{1} << 30}) {
    CAPTURE(alignment);
    void* small = resource.allocate(256, stream_view{});
    void* aligned = resource.allocate(4096, stream_view{}, alignment);
    CHECK(as_address(aligned) % alignment == 0);
    check_round_trip(*counting, aligned, 4096);
    resource.deallocate(aligned, 4096, stream_view{}, alignment);
    resource.deallocate(small, 256, stream_view{});
    CHECK(vmm_pmr::test::bytes_add_up(resource, *counting));
  }
}

TEST_CASE("the padding in front of an aligned block stays free for other requests",
          "[stream_ordered][alignment]") {
  stream_ordered_harness harness;
  auto resource = harness.make();
  void* small = resource->allocate(256, stream_a);
  void* aligned = resource->allocate(4 * kib, stream_a, mib);
  REQUIRE(as_address(aligned) == as_address(small) + mib);
  void* padding = resource->allocate(mib - 256, stream_a);
  CHECK(as_address(padding) == as_address(small) + 256);
  CHECK(resource->stats().chunks_mapped == 1);
  CHECK(vmm_pmr::test::bytes_add_up(*resource, *harness.counting));
  resource->deallocate(padding, mib - 256, stream_a);
  resource->deallocate(aligned, 4 * kib, stream_a, mib);
  resource->deallocate(small, 256, stream_a);
}

TEST_CASE("small requests are rounded to size classes, large ones to 256 B", "[stream_ordered]") {
  stream_ordered_harness harness;
  auto resource = harness.make();
  const auto block_bytes = [&](std::size_t bytes) {
    void* pointer = resource->allocate(bytes, stream_a);
    const std::size_t held = resource->stats().live_block_bytes;
    resource->deallocate(pointer, bytes, stream_a);
    return held;
  };
  CHECK(block_bytes(1) == 256);
  CHECK(block_bytes(257) == 512);
  CHECK(block_bytes(4 * kib + 1) == 4 * kib + 512);
  CHECK(block_bytes(60 * kib) == 60 * kib);
  CHECK(block_bytes(60 * kib + 1) == 64 * kib);
  CHECK(block_bytes(mib + 1) == mib + 256);
}

TEST_CASE("a non-power-of-two alignment is invalid_argument and changes nothing",
          "[stream_ordered][bad_input]") {
  stream_ordered_harness harness;
  auto resource = harness.make();
  const auto before = resource->stats();
  CHECK_THROWS_MATCHES(resource->allocate(4096, stream_a, 3), vmm_pmr::invalid_argument,
                       MessageMatches(ContainsSubstring("alignment 3")));
  CHECK_THROWS_AS(resource->allocate(4096, stream_a, 0), vmm_pmr::invalid_argument);
  CHECK(resource->stats() == before);
}

TEST_CASE("allocate(0) returns an aligned non-null pointer without any call",
          "[stream_ordered][bad_input]") {
  stream_ordered_harness harness;
  auto resource = harness.make();
  const std::size_t vmm_calls = harness.faults->total_calls();
  for (const std::size_t alignment : {std::size_t{1}, std::size_t{256}, std::size_t{4096}}) {
    void* pointer = resource->allocate(0, stream_a, alignment);
    CHECK(pointer != nullptr);
    CHECK(as_address(pointer) % alignment == 0);
    resource->deallocate(pointer, 0, stream_a, alignment);
  }
  CHECK(harness.faults->total_calls() == vmm_calls);
  CHECK(resource->stats().allocations == 0);
  CHECK(harness.reports.bad_deallocations.empty());
}

TEST_CASE("a zero-byte pointer freed with another alignment is reported naming both",
          "[stream_ordered][bad_input]") {
  stream_ordered_harness harness;
  auto resource = harness.make();
  void* aligned = resource->allocate(0, stream_a, 4096);
  resource->deallocate(aligned, 0, stream_a, 256);
  REQUIRE(harness.reports.bad_deallocations.size() == 1);
  CHECK_THAT(harness.reports.bad_deallocations.back().message,
             ContainsSubstring("alignment differs: deallocate was given alignment 256, but 0x1000 "
                               "is the pointer allocate(0, 4096) returns; pass alignment 4096"));
  CHECK(resource->stats().deallocation_errors == 1);
  resource->deallocate(aligned, 0, stream_a, 4096);
  CHECK(harness.reports.bad_deallocations.size() == 1);
}

TEST_CASE("a size that cannot be represented is out_of_memory naming the size",
          "[stream_ordered][bad_input]") {
  stream_ordered_harness harness;
  auto resource = harness.make();
  CHECK_THROWS_MATCHES(resource->allocate(std::numeric_limits<std::size_t>::max(), stream_a),
                       std::bad_alloc, MessageMatches(ContainsSubstring("16.0 EiB")));
  CHECK(resource->stats().mapped_bytes == 0);
}

TEST_CASE("a size beyond the reservation is out_of_memory with the statistics, and changes nothing",
          "[stream_ordered][bad_input]") {
  stream_ordered_harness harness;
  stream_ordered_options options;
  options.reservation_size = std::size_t{1} << 30;
  auto resource = harness.make(options);
  void* kept = resource->allocate(mib, stream_a);
  const auto before = harness.counting->live();
  CHECK_THROWS_MATCHES(resource->allocate(std::size_t{2} << 30, stream_a), vmm_pmr::out_of_memory,
                       MessageMatches(ContainsSubstring("2 GiB") && ContainsSubstring("holds") &&
                                      ContainsSubstring("1 live")));
  CHECK(harness.counting->live() == before);
  CHECK(resource->stats().live_count == 1);
  void* next = resource->allocate(mib, stream_a);
  resource->deallocate(next, mib, stream_a);
  resource->deallocate(kept, mib, stream_a);
}

TEST_CASE("out of memory is answered by trimming and retrying", "[stream_ordered][trim]") {
  stream_ordered_harness harness(4 * two_mib);
  auto resource = harness.make(granule_chunks());
  std::vector<void*> blocks;
  for (int i = 0; i < 4; ++i) blocks.push_back(resource->allocate(two_mib, stream_a));
  // Two free chunks, not adjacent: 4 MiB free, but no 4 MiB in one piece.
  resource->deallocate(blocks[0], two_mib, stream_a);
  resource->deallocate(blocks[2], two_mib, stream_a);

  void* large = resource->allocate(2 * two_mib, stream_a);
  CHECK(large != nullptr);
  const auto stats = resource->stats();
  CHECK(stats.chunks_released == 2);
  CHECK(stats.mapped_bytes == 4 * two_mib);
  CHECK(harness.events->synchronizations() >= 1);  // trim waited for stream A's frees
  resource->deallocate(large, 2 * two_mib, stream_a);
  resource->deallocate(blocks[1], two_mib, stream_a);
  resource->deallocate(blocks[3], two_mib, stream_a);
}

TEST_CASE("out of memory after trimming is out_of_memory, and the resource carries on",
          "[stream_ordered][trim][bad_input]") {
  stream_ordered_harness harness(2 * two_mib);
  auto resource = harness.make();
  void* kept = resource->allocate(mib, stream_a);
  CHECK_THROWS_MATCHES(
      resource->allocate(3 * two_mib, stream_a), vmm_pmr::out_of_memory,
      MessageMatches(ContainsSubstring("6 MiB") && ContainsSubstring("stream 0xa0") &&
                     ContainsSubstring("capacity")));
  CHECK(resource->stats().live_count == 1);
  CHECK(vmm_pmr::test::bytes_add_up(*resource, *harness.counting));
  void* fits = resource->allocate(two_mib, stream_a);
  resource->deallocate(fits, two_mib, stream_a);
  resource->deallocate(kept, mib, stream_a);
}

// ---- trimming ----

TEST_CASE("trim releases exactly the free chunks, and the backend unmaps them",
          "[stream_ordered][trim]") {
  stream_ordered_harness harness;
  auto resource = harness.make(granule_chunks());
  void* first = resource->allocate(two_mib, stream_a);
  void* second = resource->allocate(two_mib, stream_a);
  void* third = resource->allocate(two_mib, stream_a);
  std::memset(first, 0x11, two_mib);
  resource->deallocate(second, two_mib, stream_a);
  resource->deallocate(third, two_mib, stream_a);
  REQUIRE(harness.counting->live().mapped_bytes == 3 * two_mib);

  CHECK(resource->trim() == 2 * two_mib);
  CHECK(harness.counting->live().mapped_bytes == two_mib);
  CHECK(harness.counting->live().physical_allocations == 1);
  const auto stats = resource->stats();
  CHECK(stats.mapped_bytes == two_mib);
  CHECK(stats.cached_bytes == 0);
  CHECK(stats.chunks_released == 2);
  CHECK(static_cast<unsigned char*>(first)[two_mib - 1] == 0x11);
  CHECK(resource->trim() == 0);
  resource->deallocate(first, two_mib, stream_a);
}

TEST_CASE("trim keeps a chunk whose one live block sits at its start, middle or tail",
          "[stream_ordered][trim]") {
  const std::size_t live = GENERATE(0, 1, 2);
  const char* const where[] = {"start", "middle", "tail"};
  CAPTURE(where[live]);
  stream_ordered_harness harness;
  auto resource = harness.make(granule_chunks());
  // A chunk freed whole, then three blocks tiling the chunk above it, one of which stays
  // live: trim looks at the higher chunk first, while the cache holds more than a chunk.
  void* next = resource->allocate(two_mib, stream_a);
  const std::array<std::size_t, 3> sizes{mib / 2, mib, mib / 2};
  std::array<void*, 3> blocks{};
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    blocks[i] = resource->allocate(sizes[i], stream_a);
  }
  REQUIRE(as_address(blocks[0]) == as_address(next) + two_mib);
  REQUIRE(as_address(blocks[1]) == as_address(blocks[0]) + sizes[0]);
  REQUIRE(as_address(blocks[2]) == as_address(blocks[1]) + sizes[1]);
  std::memset(blocks[live], 0x5a, sizes[live]);
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    if (i != live) resource->deallocate(blocks[i], sizes[i], stream_a);
  }
  resource->deallocate(next, two_mib, stream_a);

  CHECK(resource->trim() == two_mib);
  CHECK(resource->stats().mapped_bytes == two_mib);
  CHECK(harness.counting->live().mapped_bytes == two_mib);
  const auto* bytes = static_cast<const unsigned char*>(blocks[live]);
  CHECK(std::all_of(bytes, bytes + sizes[live], [](unsigned char b) { return b == 0x5a; }));
  CHECK(resource->check_invariants() == "");
  // The chunk's free parts serve again without growth.
  const std::size_t others = two_mib - sizes[live];
  const std::uint64_t chunks_before = resource->stats().chunks_mapped;
  std::vector<std::pair<void*, std::size_t>> again;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    if (i != live) again.emplace_back(resource->allocate(sizes[i], stream_a), sizes[i]);
  }
  CHECK(resource->stats().chunks_mapped == chunks_before);
  CHECK(resource->stats().live_block_bytes == others + sizes[live]);
  for (const auto& [pointer, size] : again) resource->deallocate(pointer, size, stream_a);
  resource->deallocate(blocks[live], sizes[live], stream_a);
  CHECK(resource->check_invariants() == "");
}

TEST_CASE("trim(bytes_to_keep) keeps that much cached, releasing the highest chunks first",
          "[stream_ordered][trim]") {
  stream_ordered_harness harness;
  auto resource = harness.make(granule_chunks());
  std::vector<void*> blocks;
  for (int i = 0; i < 4; ++i) blocks.push_back(resource->allocate(two_mib, stream_a));
  for (void* block : blocks) resource->deallocate(block, two_mib, stream_a);

  CHECK(resource->trim(3 * mib) == 2 * two_mib);
  CHECK(resource->stats().cached_bytes == 2 * two_mib);
  const auto live = vmm_pmr::mapping_registry::global().live(resource.get());
  REQUIRE(live.size() == 2);
  std::vector<std::uintptr_t> bases{live[0].base, live[1].base};
  std::sort(bases.begin(), bases.end());
  CHECK(bases[0] == as_address(blocks[0]));
  CHECK(bases[1] == as_address(blocks[1]));
}

TEST_CASE("trim waits for the streams that freed into the chunks it releases",
          "[stream_ordered][trim][ordering]") {
  stream_ordered_harness harness;
  auto resource = harness.make(granule_chunks());
  void* kept = resource->allocate(two_mib, stream_c);
  void* block = resource->allocate(two_mib, stream_a);
  resource->deallocate(block, two_mib, stream_a);
  const std::uint64_t freed_at = harness.events->clock();
  REQUIRE(harness.events->completed_through(stream_a) == 0);

  CHECK(resource->trim() == two_mib);
  CHECK(harness.events->completed_through(stream_a) > freed_at);
  CHECK(harness.events->synchronizations() == 1);
  CHECK(harness.events->records_on(stream_c) == 0);  // nothing freed there: no wait
  resource->deallocate(kept, two_mib, stream_c);
}

TEST_CASE("after trim, growth maps into the lowest hole again", "[stream_ordered][trim]") {
  stream_ordered_harness harness;
  auto resource = harness.make(granule_chunks());
  void* first = resource->allocate(two_mib, stream_a);
  void* middle = resource->allocate(two_mib, stream_a);
  void* last = resource->allocate(two_mib, stream_a);
  resource->deallocate(middle, two_mib, stream_a);
  REQUIRE(resource->trim() == two_mib);

  void* refill = resource->allocate(two_mib, stream_a);
  CHECK(refill == middle);
  CHECK(harness.counting->live().mappings == 3);
  resource->deallocate(first, two_mib, stream_a);
  resource->deallocate(refill, two_mib, stream_a);
  resource->deallocate(last, two_mib, stream_a);
}

TEST_CASE("with a release threshold, freeing past it releases chunks without waiting",
          "[stream_ordered][trim]") {
  stream_ordered_harness harness;
  stream_ordered_options options = granule_chunks();
  options.release_threshold = 0;
  auto resource = harness.make(options);
  harness.events->mark_idle(stream_a);
  void* first = resource->allocate(two_mib, stream_a);
  void* second = resource->allocate(two_mib, stream_a);
  resource->deallocate(first, two_mib, stream_a);
  CHECK(resource->stats().mapped_bytes == two_mib);
  resource->deallocate(second, two_mib, stream_a);
  CHECK(resource->stats().mapped_bytes == 0);
  CHECK(harness.counting->live().mappings == 0);
  CHECK(harness.events->synchronizations() == 0);
}

TEST_CASE("automatic trimming never waits for a stream that may still use the memory",
          "[stream_ordered][trim][ordering]") {
  stream_ordered_harness harness;
  stream_ordered_options options = granule_chunks();
  options.release_threshold = 0;
  auto resource = harness.make(options);
  void* block = resource->allocate(two_mib, stream_a);
  resource->deallocate(block, two_mib, stream_a);
  CHECK(resource->stats().mapped_bytes == two_mib);
  CHECK(harness.events->synchronizations() == 0);
  CHECK(resource->trim() == two_mib);  // an explicit trim waits
}

TEST_CASE("frees that a completed record covers settle although newer frees followed",
          "[stream_ordered][trim][ordering]") {
  stream_ordered_harness harness;
  stream_ordered_options options = granule_chunks();
  options.release_threshold = 0;
  auto resource = harness.make(options);
  void* older = resource->allocate(two_mib, stream_a);
  void* between = resource->allocate(two_mib, stream_a);  // keeps the two frees apart
  void* newer = resource->allocate(two_mib, stream_a);
  resource->deallocate(older, two_mib, stream_a);  // an event is recorded after it
  CHECK(resource->stats().mapped_bytes == 3 * two_mib);
  harness.events->complete_all(stream_a);  // that event completes
  resource->deallocate(newer, two_mib, stream_a);
  // The automatic trim settles (and releases) what the completed event covers, and
  // records again for the newer free, which stays.
  CHECK(resource->stats().mapped_bytes == 2 * two_mib);
  CHECK(resource->stats().cached_bytes == two_mib);
  CHECK(harness.events->synchronizations() == 0);
  resource->deallocate(between, two_mib, stream_a);
}

TEST_CASE("a release threshold keeps that much cached", "[stream_ordered][trim]") {
  stream_ordered_harness harness;
  stream_ordered_options options = granule_chunks();
  options.release_threshold = 2 * two_mib;
  auto resource = harness.make(options);
  harness.events->mark_idle(stream_a);
  std::vector<void*> blocks;
  for (int i = 0; i < 4; ++i) blocks.push_back(resource->allocate(two_mib, stream_a));
  for (void* block : blocks) resource->deallocate(block, two_mib, stream_a);
  CHECK(resource->stats().cached_bytes == 2 * two_mib);
  CHECK(resource->stats().mapped_bytes == 2 * two_mib);
}

// ---- graph capture ----

TEST_CASE("trim() during a capture throws, naming the stream, and unmaps nothing",
          "[stream_ordered][capture]") {
  stream_ordered_harness harness;
  auto resource = harness.make();
  void* block = resource->allocate(two_mib, stream_a);
  resource->deallocate(block, two_mib, stream_a);
  harness.events->begin_capture(stream_a);
  CHECK_THROWS_MATCHES(
      resource->trim(), vmm_pmr::error,
      MessageMatches(ContainsSubstring("stream 0xa0") && ContainsSubstring("capturing")));
  CHECK(resource->stats().mapped_bytes == two_mib);
  CHECK(harness.events->capture_violations() == 0);
  harness.events->end_capture(stream_a);
  CHECK(resource->trim() == two_mib);
}

TEST_CASE("a capturing stream takes no block from another stream", "[stream_ordered][capture]") {
  stream_ordered_harness harness;
  auto resource = harness.make();
  void* block = resource->allocate(two_mib, stream_b);
  resource->deallocate(block, two_mib, stream_b);
  harness.events->mark_idle(stream_b);
  harness.events->begin_capture(stream_a);

  void* captured = resource->allocate(two_mib, stream_a);
  CHECK(captured != block);
  CHECK(harness.events->records_on(stream_b) == 0);
  CHECK(harness.events->waits().empty());
  CHECK(harness.events->capture_violations() == 0);
  resource->deallocate(captured, two_mib, stream_a);
  harness.events->end_capture(stream_a);
}

TEST_CASE("a capturing stream gives no block to another stream", "[stream_ordered][capture]") {
  stream_ordered_harness harness;
  auto resource = harness.make();
  harness.events->begin_capture(stream_a);
  void* block = resource->allocate(two_mib, stream_a);
  resource->deallocate(block, two_mib, stream_a);

  void* other = resource->allocate(two_mib, stream_b);
  CHECK(other != block);
  CHECK(harness.events->records_on(stream_a) == 0);
  CHECK(harness.events->capture_violations() == 0);
  // Within the capture, the stream reuses its own block as usual.
  void* again = resource->allocate(two_mib, stream_a);
  CHECK(again == block);
  resource->deallocate(again, two_mib, stream_a);
  resource->deallocate(other, two_mib, stream_b);
  harness.events->end_capture(stream_a);
}

TEST_CASE("automatic trimming waits until no stream is capturing", "[stream_ordered][capture]") {
  stream_ordered_harness harness;
  stream_ordered_options options = granule_chunks();
  options.release_threshold = 0;
  auto resource = harness.make(options);
  harness.events->mark_idle(stream_a);
  void* captured = resource->allocate(256, stream_c);
  harness.events->begin_capture(stream_c);
  void* block = resource->allocate(two_mib, stream_a);
  resource->deallocate(block, two_mib, stream_a);
  CHECK(resource->stats().mapped_bytes == 2 * two_mib);
  harness.events->end_capture(stream_c);

  // Frees past the threshold retry the release; the chunk with a live block stays.
  for (int i = 0; i < 100 && resource->stats().mapped_bytes > two_mib; ++i) {
    void* again = resource->allocate(two_mib, stream_a);
    resource->deallocate(again, two_mib, stream_a);
  }
  CHECK(resource->stats().mapped_bytes == two_mib);
  CHECK(harness.events->capture_violations() == 0);
  resource->deallocate(captured, 256, stream_c);
}

// ---- statistics ----

TEST_CASE("statistics add up: bytes, counts, peaks and per-stream shares",
          "[stream_ordered][stats]") {
  stream_ordered_harness harness;
  auto resource = harness.make();
  void* a1 = resource->allocate(1000, stream_a);
  void* a2 = resource->allocate(3 * mib, stream_a);
  void* b1 = resource->allocate(5000, stream_b);
  resource->deallocate(a1, 1000, stream_a);
  resource->deallocate(b1, 5000, stream_a);  // freed on another stream than it was made on

  const auto stats = resource->stats();
  CHECK(stats.live_count == 1);
  CHECK(stats.live_bytes == 3 * mib);
  CHECK(stats.live_block_bytes == 3 * mib);
  CHECK(stats.peak_live_bytes == 3 * mib + 6000);
  CHECK(stats.allocations == 3);
  CHECK(stats.deallocations == 2);
  CHECK(stats.allocations == stats.same_stream_reuses + stats.settled_reuses +
                                 stats.completed_stream_reuses + stats.waited_stream_reuses +
                                 stats.grown_allocations);
  CHECK(stats.mapped_bytes == stats.live_block_bytes + stats.cached_bytes);
  CHECK(stats.peak_mapped_bytes >= stats.mapped_bytes);
  CHECK(stats.reserved_bytes >= stats.mapped_bytes);
  CHECK(vmm_pmr::test::bytes_add_up(*resource, *harness.counting));

  const auto a = usage_of(*resource, stream_a);
  const auto b = usage_of(*resource, stream_b);
  CHECK(a.allocations == 2);
  CHECK(a.live_count == 1);
  CHECK(a.deallocations == 2);
  CHECK(b.allocations == 1);
  CHECK(b.live_count == 0);
  CHECK(a.cached_bytes + b.cached_bytes <= stats.cached_bytes);
  CHECK_THAT(vmm_pmr::to_string(stats), ContainsSubstring("1 live (3 MiB)"));
  resource->deallocate(a2, 3 * mib, stream_a);
}

// ---- bad deallocations ----

TEST_CASE("bad deallocations are reported, counted, and free nothing",
          "[stream_ordered][bad_input]") {
  stream_ordered_harness harness;
  auto resource = harness.make();
  auto* live = static_cast<std::byte*>(resource->allocate(4096, stream_a));
  int on_the_stack = 0;
  vmm_pmr::vmm_resource other(vmm_pmr::test::make_test_host_backend());
  void* others = other.allocate(100);

  SECTION("a pointer it never made") {
    resource->deallocate(&on_the_stack, sizeof on_the_stack, stream_a);
    CHECK_THAT(harness.reports.last_message(), ContainsSubstring("not allocated by this resource"));
  }
  SECTION("another resource's pointer") {
    resource->deallocate(others, 100, stream_a);
    CHECK_THAT(harness.reports.last_message(), ContainsSubstring("belongs to another resource"));
  }
  SECTION("an interior pointer") {
    resource->deallocate(live + 256, 256, stream_a);
    CHECK_THAT(harness.reports.last_message(),
               ContainsSubstring("pointer is inside an allocation"));
  }
  SECTION("the wrong size: the block stays live") {
    resource->deallocate(live, 4095, stream_a);
    CHECK_THAT(harness.reports.last_message(), ContainsSubstring("size differs"));
    CHECK(resource->stats().live_count == 1);
  }
  CHECK(harness.reports.bad_deallocations.size() == 1);
  CHECK(resource->stats().deallocation_errors == 1);
  CHECK(resource->stats().live_count == 1);
  resource->deallocate(live, 4096, stream_a);
  CHECK(resource->stats().live_count == 0);
  other.deallocate(others, 100);
}

TEST_CASE("a double free is reported and frees nothing else", "[stream_ordered][bad_input]") {
  stream_ordered_harness harness;
  auto resource = harness.make();
  void* block = resource->allocate(4096, stream_a);
  void* neighbour = resource->allocate(4096, stream_a);
  resource->deallocate(block, 4096, stream_a);
  resource->deallocate(block, 4096, stream_a);
  CHECK_THAT(harness.reports.last_message(), ContainsSubstring("double free"));
  CHECK(resource->stats().deallocation_errors == 1);
  CHECK(resource->stats().live_count == 1);
  // The cache did not take the block twice: two allocations get two blocks.
  void* x = resource->allocate(4096, stream_a);
  void* y = resource->allocate(4096, stream_a);
  CHECK(x != y);
  for (void* p : {x, y, neighbour}) resource->deallocate(p, 4096, stream_a);
}

TEST_CASE("a pointer into memory that trim released is reported as stale",
          "[stream_ordered][bad_input]") {
  stream_ordered_harness harness;
  auto resource = harness.make(granule_chunks());
  void* block = resource->allocate(two_mib, stream_a);
  resource->deallocate(block, two_mib, stream_a);
  REQUIRE(resource->trim() == two_mib);
  resource->deallocate(block, two_mib, stream_a);
  CHECK_THAT(harness.reports.last_message(), ContainsSubstring("stale pointer"));
  CHECK(resource->stats().deallocation_errors == 1);
}

// ---- freeing by address alone ----

TEST_CASE("deallocate_by_pointer frees the block on the stream that allocated it",
          "[stream_ordered][by_pointer]") {
  stream_ordered_harness harness;
  auto resource = harness.make();
  void* block = resource->allocate(1000, stream_a);
  const auto made = resource->allocation_at(block);
  REQUIRE(made.has_value());
  CHECK(made->bytes == 1000);
  CHECK(made->stream == stream_a);
  CHECK_FALSE(resource->allocation_at(static_cast<std::byte*>(block) + 256).has_value());
  resource->deallocate_by_pointer(block);
  CHECK_FALSE(resource->allocation_at(block).has_value());
  CHECK(resource->stats().live_count == 0);
  CHECK(resource->stats().live_bytes == 0);
  CHECK(usage_of(*resource, stream_a).deallocations == 1);
  CHECK(usage_of(*resource, stream_a).cached_bytes > 0);
  // The same-stream cache takes it back at once, with no driver call.
  const std::size_t vmm_calls = harness.faults->total_calls();
  void* again = resource->allocate(1000, stream_a);
  CHECK(again == block);
  CHECK(harness.faults->total_calls() == vmm_calls);
  resource->deallocate(again, 1000, stream_a);
  CHECK(harness.reports.bad_deallocations.empty());
  CHECK(resource->check_invariants().empty());
}

TEST_CASE("deallocate_by_pointer accepts the pointer allocate(0) returns",
          "[stream_ordered][by_pointer]") {
  stream_ordered_harness harness;
  auto resource = harness.make();
  void* empty = resource->allocate(0, stream_a);
  resource->deallocate_by_pointer(empty);
  CHECK(harness.reports.bad_deallocations.empty());
  CHECK(resource->stats().deallocation_errors == 0);
}

TEST_CASE("deallocate_by_pointer reports bad pointers and frees nothing",
          "[stream_ordered][by_pointer][bad_input]") {
  stream_ordered_harness harness;
  auto resource = harness.make();
  auto* live = static_cast<std::byte*>(resource->allocate(4096, stream_a));
  void* freed = resource->allocate(8192, stream_a);
  resource->deallocate(freed, 8192, stream_a);
  int on_the_stack = 0;

  SECTION("a pointer it never made") {
    resource->deallocate_by_pointer(&on_the_stack);
    CHECK_THAT(harness.reports.last_message(), ContainsSubstring("not allocated by this resource"));
  }
  SECTION("an interior pointer") {
    resource->deallocate_by_pointer(live + 256);
    CHECK_THAT(harness.reports.last_message(),
               ContainsSubstring("pointer is inside an allocation"));
  }
  SECTION("a double free") {
    resource->deallocate_by_pointer(freed);
    CHECK_THAT(harness.reports.last_message(), ContainsSubstring("double free"));
  }
  CHECK_THAT(harness.reports.last_message(), ContainsSubstring("deallocate_by_pointer("));
  CHECK(harness.reports.bad_deallocations.size() == 1);
  CHECK(resource->stats().deallocation_errors == 1);
  CHECK(resource->stats().live_count == 1);
  resource->deallocate_by_pointer(live);
  CHECK(resource->stats().live_count == 0);
  CHECK(harness.reports.bad_deallocations.size() == 1);
}

// ---- the registry ----

TEST_CASE("the registry finds the resource for any pointer into its blocks, until trim",
          "[stream_ordered][registry]") {
  stream_ordered_harness harness;
  auto resource = harness.make(granule_chunks());
  auto* block = static_cast<std::byte*>(resource->allocate(3 * mib, stream_a));
  const auto inside = vmm_pmr::mapping_registry::global().find(block + 3 * mib - 1);
  REQUIRE(inside);
  CHECK(inside->owner == resource.get());
  CHECK(inside->base == as_address(block));  // one chunk, mapped for this request
  CHECK(inside->mapped_bytes == 2 * two_mib);
  resource->deallocate(block, 3 * mib, stream_a);
  resource->trim();
  CHECK_FALSE(vmm_pmr::mapping_registry::global().find(block));
}

// ---- std::pmr ----

TEST_CASE("the pmr interface allocates on the stream given in the options",
          "[stream_ordered][pmr]") {
  stream_ordered_harness harness;
  stream_ordered_options options;
  options.stream = stream_c;
  auto resource = harness.make(options);
  std::pmr::memory_resource& pmr = *resource;
  void* pointer = pmr.allocate(100, 64);
  CHECK(as_address(pointer) % 256 == 0);
  CHECK(usage_of(*resource, stream_c).live_count == 1);
  pmr.deallocate(pointer, 100, 64);
  CHECK(usage_of(*resource, stream_c).live_count == 0);
}

// `{}` after the size: on the resource a stream (as in allocate(n, {}, 64)), never
// std::pmr's alignment 0; on a view, which has no stream to name, it does not compile. A
// number there is an alignment on both.
namespace {
template <typename Resource>
concept takes_braces_after_the_size = requires(Resource& resource, void* pointer) {
  resource.allocate(std::size_t{100}, {});
  resource.deallocate(pointer, std::size_t{100}, {});
};
template <typename Resource>
concept takes_pmr_calls = requires(Resource& resource, void* pointer) {
  resource.allocate(std::size_t{100});
  resource.allocate(std::size_t{100}, 64);
  resource.allocate(std::size_t{100}, std::size_t{64});
  resource.deallocate(pointer, std::size_t{100});
  resource.deallocate(pointer, std::size_t{100}, 64);
};
}  // namespace
static_assert(!takes_braces_after_the_size<vmm_pmr::stream_bound_resource>);
static_assert(takes_pmr_calls<vmm_pmr::stream_bound_resource>);
static_assert(takes_braces_after_the_size<stream_ordered_resource>);
static_assert(takes_pmr_calls<stream_ordered_resource>);

TEST_CASE("allocate(n, {}) allocates on the legacy default stream, not with alignment 0",
          "[stream_ordered][pmr]") {
  stream_ordered_harness harness;
  stream_ordered_options options;
  options.stream = stream_c;  // not the stream `{}` names
  auto resource = harness.make(options);
  void* pointer = resource->allocate(100, {});
  CHECK(usage_of(*resource, stream_view{}).live_count == 1);
  CHECK(usage_of(*resource, stream_c).allocations == 0);
  resource->deallocate(pointer, 100, {});
  CHECK(usage_of(*resource, stream_view{}).live_count == 0);
  CHECK(usage_of(*resource, stream_view{}).deallocations == 1);
  CHECK(harness.reports.bad_deallocations.empty());
  // std::pmr's calls, by number or through a polymorphic_allocator, stay on options.stream.
  void* aligned = resource->allocate(100, 4096);
  CHECK(as_address(aligned) % 4096 == 0);
  resource->deallocate(aligned, 100, 4096);
  {
    std::pmr::vector<int> values({1, 2, 3}, resource.get());
    CHECK(usage_of(*resource, stream_c).live_count == 1);
  }
  CHECK(usage_of(*resource, stream_c).allocations == 2);
  CHECK(usage_of(*resource, stream_c).live_count == 0);
}

TEST_CASE("a view bound to a stream serves std::pmr containers on that stream",
          "[stream_ordered][pmr]") {
  stream_ordered_harness harness;
  auto resource = harness.make();
  auto on_b = resource->on_stream(stream_b);
  {
    std::pmr::vector<int> values(&on_b);
    for (int i = 0; i < 10000; ++i) values.push_back(i);
    CHECK(values[9999] == 9999);
    CHECK(usage_of(*resource, stream_b).live_count == 1);
  }
  CHECK(usage_of(*resource, stream_b).live_count == 0);
  CHECK(usage_of(*resource, stream_b).allocations > 1);
}

TEST_CASE("views are equal only for the same resource and stream", "[stream_ordered][pmr]") {
  stream_ordered_harness harness;
  auto resource = harness.make();
  auto other = harness.make();
  auto a1 = resource->on_stream(stream_a);
  auto a2 = resource->on_stream(stream_a);
  auto b = resource->on_stream(stream_b);
  auto other_a = other->on_stream(stream_a);
  auto own = resource->on_stream(resource->stream());
  CHECK(a1.is_equal(a2));
  CHECK_FALSE(a1.is_equal(b));
  CHECK_FALSE(a1.is_equal(other_a));
  CHECK(own.is_equal(*resource));
  CHECK(resource->is_equal(own));
  CHECK_FALSE(resource->is_equal(a1));
  CHECK_FALSE(resource->is_equal(*other));
}

// ---- construction and destruction ----

TEST_CASE("chunk sizes that contradict each other are invalid_argument",
          "[stream_ordered][options]") {
  stream_ordered_harness harness;
  stream_ordered_options options;
  options.min_chunk_size = 64 * mib;
  options.max_chunk_size = 8 * mib;
  CHECK_THROWS_MATCHES(harness.make(options), vmm_pmr::invalid_argument,
                       MessageMatches(ContainsSubstring("min_chunk_size")));
  CHECK(harness.counting->live() == vmm_pmr::testing::live_objects{});
}

TEST_CASE("a chunk size that is not a multiple of the granularity is invalid_argument",
          "[stream_ordered][options]") {
  stream_ordered_harness harness;
  stream_ordered_options options;
  options.min_chunk_size = 3 * mib;
  CHECK_THROWS_MATCHES(
      harness.make(options), vmm_pmr::invalid_argument,
      MessageMatches(ContainsSubstring(
          "stream_ordered_options::min_chunk_size = 3145728 (3 MiB) is not a multiple of the 2 "
          "MiB granularity (chunks are whole granules): use 2097152 (2 MiB) or 4194304 (4 MiB)")));
  options.min_chunk_size = 0;
  options.max_chunk_size = 1;  // no smaller multiple to offer
  CHECK_THROWS_MATCHES(
      harness.make(options), vmm_pmr::invalid_argument,
      MessageMatches(ContainsSubstring(
          "stream_ordered_options::max_chunk_size = 1 (1 B) is not a multiple of the 2 MiB "
          "granularity (chunks are whole granules): use 2097152 (2 MiB)")));
  CHECK(harness.counting->live() == vmm_pmr::testing::live_objects{});
}

TEST_CASE("chunk sizes left at 0 are the defaults rounded up to a larger granularity",
          "[stream_ordered][options]") {
  stream_ordered_harness harness;
  stream_ordered_options options;
  options.memory.granularity = vmm_pmr::granularity_choice::multiple_of(4 * mib);
  options.footprint_limit = 1.0;  // every chunk is then exactly min_chunk_size
  auto resource = harness.make(options);
  void* block = resource->allocate(100, stream_a);
  CHECK(resource->stats().mapped_bytes == 4 * mib);  // min_chunk_size: 2 MiB rounded up
  resource->deallocate(block, 100, stream_a);
}

TEST_CASE("the reservation is made once, at construction, and nothing is mapped until needed",
          "[stream_ordered][options]") {
  stream_ordered_harness harness;
  stream_ordered_options options;
  options.reservation_size = 3 * (std::size_t{1} << 30) + 1;
  auto resource = harness.make(options);
  const auto live = harness.counting->live();
  CHECK(live.reservations == 1);
  CHECK(live.mappings == 0);
  CHECK(resource->stats().reserved_bytes == 3 * (std::size_t{1} << 30) + two_mib);
}

TEST_CASE("destroying the resource frees everything and reports live blocks as leaks",
          "[stream_ordered][leaks]") {
  stream_ordered_harness harness;
  {
    auto resource = harness.make();
    resource->allocate(1000, stream_a);
    resource->allocate(3 * mib, stream_b);
    void* freed = resource->allocate(100, stream_a);
    resource->deallocate(freed, 100, stream_a);
  }
  CHECK(harness.counting->live() == vmm_pmr::testing::live_objects{});
  CHECK(harness.events->live_events() == 0);
  REQUIRE(harness.reports.leaks.size() == 1);
  CHECK(harness.reports.leaks.front().leaked.size() == 2);
  CHECK(harness.reports.leaks.front().leaked_bytes == 1000 + 3 * mib);
}

TEST_CASE("destroying the resource first waits for the streams with cached blocks",
          "[stream_ordered][leaks][ordering]") {
  stream_ordered_harness harness;
  std::uint64_t freed_at = 0;
  {
    auto resource = harness.make();
    void* block = resource->allocate(two_mib, stream_a);
    resource->deallocate(block, two_mib, stream_a);
    freed_at = harness.events->clock();
  }
  CHECK(harness.events->completed_through(stream_a) > freed_at);
  CHECK(harness.reports.leaks.empty());
}
