// stream_ordered_resource under long random workloads: the ordering guarantee checked
// against a shadow of every free, and many threads on many streams at once; each unbounded
// and with a footprint limit (alias ranges: the same memory at a second address, so a
// block sharing memory with another live one would show as a corrupted tag).
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>

#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "support/printers.hpp"
#include "support/stream_ordered_harness.hpp"
#include "vmm_pmr/registry/mapping_registry.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"

using vmm_pmr::stream_ordered_options;
using vmm_pmr::stream_view;
using vmm_pmr::test::as_address;
using vmm_pmr::test::stream_ordered_harness;
using vmm_pmr::test::test_stream;

namespace {

// Log-uniform between 256 B and 2^max_octave B.
std::size_t random_size(std::mt19937_64& random, int max_octave) {
  const int octave = 8 + static_cast<int>(random() % static_cast<unsigned>(max_octave - 8));
  const std::size_t base = std::size_t{1} << octave;
  return base + random() % base;
}

// What every byte handed out was last freed on, and when: enough to tell whether a
// stream may take it (the freeing stream is known done, or the taker waited for it).
class free_shadow {
 public:
  explicit free_shadow(vmm_pmr::testing::manual_event_backend& events) : events_(events) {}

  void freed(std::uintptr_t base, std::size_t bytes, stream_view stream) {
    forget(base, base + bytes);
    ranges_[base] = {base + bytes, stream, events_.clock()};
  }

  // Counts the bytes of [base, base + bytes) handed to `taker` while a stream that freed
  // them may still be using them; forgets the range (it is live now).
  std::size_t unsafe_handout(std::uintptr_t base, std::size_t bytes, stream_view taker) {
    std::size_t unsafe = 0;
    const auto waits = events_.waits();
    for (const auto& [start, range] : overlapping(base, base + bytes)) {
      if (range.stream == taker) continue;
      if (events_.completed_through(range.stream) > range.freed_at) continue;
      const bool waited = std::any_of(waits.begin(), waits.end(), [&](const auto& wait) {
        return wait.waiting == taker && wait.recorded_on == range.stream &&
               wait.recorded_at > range.freed_at;
      });
      if (!waited) unsafe += std::min(range.end, base + bytes) - std::max(start, base);
    }
    forget(base, base + bytes);
    return unsafe;
  }

  // Bytes of [base, end) that trim unmapped while their freeing stream may still run.
  std::size_t unsafe_unmap(std::uintptr_t base, std::uintptr_t end) {
    std::size_t unsafe = 0;
    for (const auto& [start, range] : overlapping(base, end)) {
      if (events_.completed_through(range.stream) <= range.freed_at) {
        unsafe += std::min(range.end, end) - std::max(start, base);
      }
    }
    forget(base, end);
    return unsafe;
  }

 private:
  struct freed_range {
    std::uintptr_t end;
    stream_view stream;
    std::uint64_t freed_at;
  };

  std::vector<std::pair<std::uintptr_t, freed_range>> overlapping(std::uintptr_t base,
                                                                  std::uintptr_t end) const {
    std::vector<std::pair<std::uintptr_t, freed_range>> found;
    auto it = ranges_.upper_bound(base);
    if (it != ranges_.begin()) --it;
    for (; it != ranges_.end() && it->first < end; ++it) {
      if (it->second.end > base) found.emplace_back(*it);
    }
    return found;
  }

  // Cuts [base, end) out of every recorded range.
  void forget(std::uintptr_t base, std::uintptr_t end) {
    for (const auto& [start, range] : overlapping(base, end)) {
      ranges_.erase(start);
      if (start < base) ranges_[start] = {base, range.stream, range.freed_at};
      if (range.end > end) ranges_[end] = {range.end, range.stream, range.freed_at};
    }
  }

  vmm_pmr::testing::manual_event_backend& events_;
  std::map<std::uintptr_t, freed_range> ranges_;
};

struct live_block {
  void* pointer;
  std::size_t bytes;
  stream_view stream;
  std::size_t block_bytes = 0;  // the block behind it: the request rounded to a block size
};

}  // namespace

TEST_CASE("no block reaches a stream while the stream that freed it may still use it",
          "[stream_ordered][ordering][stress]") {
  stream_ordered_harness harness;
  stream_ordered_options options;
  options.min_chunk_size = 2 << 20;
  options.max_chunk_size = 8 << 20;
  const bool bounded = GENERATE(false, true);
  CAPTURE(bounded);
  if (bounded) options.footprint_limit = 1.0;
  auto resource = harness.make(options);
  auto& events = *harness.events;
  free_shadow shadow(events);
  const std::vector<stream_view> streams = {test_stream(0x10), test_stream(0x20), test_stream(0x30),
                                            test_stream(0x40)};
  std::mt19937_64 random(20240601);
  std::vector<live_block> live;
  std::size_t unsafe_handouts = 0;
  std::size_t unsafe_unmaps = 0;

  for (int step = 0; step < 6000; ++step) {
    const stream_view stream = streams[random() % streams.size()];
    const unsigned action = random() % 100;
    if (action < 45 || live.empty()) {
      const std::size_t bytes = random_size(random, 23);
      const std::size_t blocks_before = resource->stats().live_block_bytes;
      void* pointer = resource->allocate(bytes, stream);
      // The whole block counts: a stream may use all of it.
      const std::size_t block_bytes = resource->stats().live_block_bytes - blocks_before;
      unsafe_handouts += shadow.unsafe_handout(as_address(pointer), block_bytes, stream);
      live.push_back({pointer, bytes, stream, block_bytes});
    } else if (action < 90) {
      const std::size_t index = random() % live.size();
      // Mostly on the stream that allocated it, sometimes on another one.
      const stream_view on = random() % 4 == 0 ? stream : live[index].stream;
      resource->deallocate(live[index].pointer, live[index].bytes, on);
      shadow.freed(as_address(live[index].pointer), live[index].block_bytes, on);
      live[index] = live.back();
      live.pop_back();
    } else if (action < 95) {
      events.complete_all(stream);
    } else if (action < 98) {
      if (random() % 2 == 0) {
        events.mark_idle(stream);
      } else {
        events.mark_busy(stream);
      }
    } else {
      const auto before = vmm_pmr::mapping_registry::global().live(resource.get());
      resource->trim(random() % 2 == 0 ? 0 : std::size_t{8} << 20);
      const auto after = vmm_pmr::mapping_registry::global().live(resource.get());
      for (const auto& chunk : before) {
        const bool kept = std::any_of(after.begin(), after.end(),
                                      [&](const auto& other) { return other.base == chunk.base; });
        if (!kept)
          unsafe_unmaps += shadow.unsafe_unmap(chunk.base, chunk.base + chunk.mapped_bytes);
      }
    }
    INFO("after step " << step);
    REQUIRE(resource->check_invariants() == "");
  }
  CHECK(unsafe_handouts == 0);
  CHECK(unsafe_unmaps == 0);
  CHECK(events.capture_violations() == 0);
  CHECK(vmm_pmr::test::bytes_add_up(*resource, *harness.counting));
  const auto stats = resource->stats();
  CHECK(stats.stream_waits > 0);  // the workload did exercise every path
  CHECK(stats.completed_stream_reuses + stats.settled_reuses > 0);
  CHECK(stats.chunks_released > 0);
  if (bounded) {
    CHECK(stats.alias_ranges_made > 0);
    CHECK(stats.alias_reuses > 0);
    CHECK(stats.alias_ranges_retired > 0);
  }
  for (const live_block& block : live)
    resource->deallocate(block.pointer, block.bytes, block.stream);
  CHECK(resource->stats().live_count == 0);
}

TEST_CASE(
    "many threads on many streams: every block is exclusively its owner's, and the books balance",
    "[stream_ordered][threads][stress]") {
  stream_ordered_harness harness;
  stream_ordered_options options;
  options.release_threshold = std::size_t{64} << 20;
  const bool bounded = GENERATE(false, true);
  CAPTURE(bounded);
  if (bounded) options.footprint_limit = 1.0;
  auto resource = harness.make(options);
  const std::vector<stream_view> streams = {test_stream(0x100), test_stream(0x200),
                                            test_stream(0x300), test_stream(0x400),
                                            test_stream(0x500), stream_view{}};
  constexpr int thread_count = 6;
  constexpr int steps = 3000;
  std::atomic<std::size_t> corrupted{0};
  std::atomic<std::size_t> operations{0};

  std::vector<std::thread> threads;
  for (int t = 0; t < thread_count; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 random(1000 + t);
      const auto tag = static_cast<unsigned char>(t * 37 + 11);
      std::vector<live_block> mine;
      const auto verify_and_free = [&](const live_block& block, stream_view on) {
        const auto* bytes = static_cast<const unsigned char*>(block.pointer);
        // First and last bytes, and one in the middle: another owner would have
        // written its own tag over them.
        if (bytes[0] != tag || bytes[block.bytes - 1] != tag || bytes[block.bytes / 2] != tag) {
          ++corrupted;
        }
        resource->deallocate(block.pointer, block.bytes, on);
      };
      for (int step = 0; step < steps; ++step) {
        const stream_view stream = streams[random() % streams.size()];
        const unsigned action = random() % 100;
        if (action < 50 || mine.empty()) {
          const std::size_t bytes = random_size(random, 22);
          void* pointer = resource->allocate(bytes, stream);
          std::memset(pointer, tag, bytes);
          mine.push_back({pointer, bytes, stream});
        } else if (action < 95) {
          const std::size_t index = random() % mine.size();
          verify_and_free(mine[index], random() % 3 == 0 ? stream : mine[index].stream);
          mine[index] = mine.back();
          mine.pop_back();
        } else if (action < 99) {
          harness.events->complete_all(stream);
        } else {
          resource->trim(std::size_t{16} << 20);
        }
        ++operations;
      }
      for (const live_block& block : mine) verify_and_free(block, block.stream);
    });
  }
  for (std::thread& thread : threads) thread.join();

  CHECK(corrupted == 0);
  CHECK(operations == thread_count * steps);
  const auto stats = resource->stats();
  CHECK(stats.live_count == 0);
  CHECK(stats.live_bytes == 0);
  CHECK(stats.allocations == stats.deallocations);
  CHECK(stats.allocations == stats.same_stream_reuses + stats.settled_reuses +
                                 stats.completed_stream_reuses + stats.waited_stream_reuses +
                                 stats.grown_allocations + stats.alias_reuses);
  if (bounded) CHECK(stats.alias_ranges_made > 0);
  CHECK(vmm_pmr::test::bytes_add_up(*resource, *harness.counting,
                                    vmm_pmr::test::physical_count::unreliable));
  std::size_t stream_live = 0;
  std::uint64_t stream_allocations = 0;
  for (const auto& usage : resource->stream_stats()) {
    stream_live += usage.live_count;
    stream_allocations += usage.allocations;
  }
  CHECK(stream_live == 0);
  CHECK(stream_allocations == stats.allocations);
  CHECK(harness.events->capture_violations() == 0);
  resource.reset();
  CHECK(harness.counting->live().mappings == 0);
  CHECK(harness.counting->live().reservations == 0);
  CHECK(harness.reports.leaks.empty());
  CHECK(harness.reports.bad_deallocations.empty());
}
