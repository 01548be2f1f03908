// Many threads doing random operations across several resources and streams at once,
// with the books checked at the end: statistics add up, the registry holds exactly what
// is live, memory is never shared by two owners, and destruction frees everything.
// (stream_ordered_stress_test.cpp stresses one stream_ordered_resource alone; this one
// mixes vmm_resources, stream_ordered_resources, sharing, access changes, bad frees and
// allocations freed by another thread than the one that made them.) It also runs under
// ThreadSanitizer in CI (scripts/sanitize thread).
#include <catch2/catch_test_macros.hpp>

#include <array>
#include <atomic>
#include <cstring>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "support/printers.hpp"
#include "support/resource_fixtures.hpp"
#include "support/stream_ordered_harness.hpp"
#include "vmm_pmr/registry/mapping_registry.hpp"
#include "vmm_pmr/resource/vmm_resource.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"
#include "vmm_pmr/testing/counting_backend.hpp"
#include "vmm_pmr/testing/manual_event_backend.hpp"

using vmm_pmr::stream_view;
using vmm_pmr::test::test_stream;

namespace {

constexpr int vmm_count = 2;
constexpr int pool_count = 2;

struct held {
  void* pointer = nullptr;
  std::size_t bytes = 0;
  int resource = 0;  // 0..1: vmm_resources, 2..3: stream_ordered_resources
  stream_view stream;
  unsigned char tag = 0;
};

bool intact(const held& h) {
  const auto* bytes = static_cast<const unsigned char*>(h.pointer);
  return bytes[0] == h.tag && bytes[h.bytes - 1] == h.tag && bytes[h.bytes / 2] == h.tag;
}

// Log-uniform between 1 B and 2^max_octave B.
std::size_t random_size(std::mt19937_64& random, int max_octave) {
  const int octave = static_cast<int>(random() % static_cast<unsigned>(max_octave));
  const std::size_t base = std::size_t{1} << octave;
  return base + random() % base;
}

}  // namespace

TEST_CASE("many threads across several resources and streams: nothing is lost or shared",
          "[threads][stress]") {
  auto counting =
      std::make_shared<vmm_pmr::testing::counting_backend>(vmm_pmr::test::make_test_host_backend());
  auto events = std::make_shared<vmm_pmr::testing::manual_event_backend>(counting);
  vmm_pmr::test::report_recorder reports;

  std::array<std::unique_ptr<vmm_pmr::vmm_resource>, vmm_count> vmm;
  vmm_pmr::vmm_options shareable;
  shareable.shareable = vmm_pmr::handle_types::posix_fd;
  vmm[0] = std::make_unique<vmm_pmr::vmm_resource>(events, reports.attach(shareable));
  vmm[1] = std::make_unique<vmm_pmr::vmm_resource>(events, reports.attach({}));
  std::array<std::unique_ptr<vmm_pmr::stream_ordered_resource>, pool_count> pools;
  for (int i = 0; i < pool_count; ++i) {
    vmm_pmr::stream_ordered_options options;
    options.memory = reports.attach({});
    if (i == 1) options.release_threshold = std::size_t{8} << 20;
    pools[i] = std::make_unique<vmm_pmr::stream_ordered_resource>(events, options);
  }
  const std::vector<stream_view> streams = {test_stream(0x100), test_stream(0x200),
                                            test_stream(0x300), stream_view{}};

  constexpr int thread_count = 6;
  constexpr int steps = 1500;
  constexpr std::size_t max_held = 16;  // per thread: bounds the memory the test maps
  std::array<std::atomic<std::uint64_t>, vmm_count + pool_count> allocations{};
  std::array<std::atomic<std::uint64_t>, vmm_count + pool_count> bad_frees{};
  std::atomic<std::size_t> corrupted{0};
  std::atomic<std::size_t> misattributed{0};
  std::atomic<std::size_t> unexpected_errors{0};
  std::mutex handover_mutex;
  std::vector<held> handover;  // allocations one thread made and another frees
  std::mutex leftovers_mutex;
  std::vector<held> leftovers;  // still live when the threads end

  const auto release = [&](const held& h, stream_view on) {
    if (!intact(h)) ++corrupted;
    if (h.resource < vmm_count) {
      vmm[h.resource]->deallocate(h.pointer, h.bytes);
    } else {
      pools[h.resource - vmm_count]->deallocate(h.pointer, h.bytes, on);
    }
  };

  std::vector<std::thread> threads;
  for (int t = 0; t < thread_count; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 random(7000 + t);
      std::vector<held> mine;
      unsigned char next_tag = static_cast<unsigned char>(t * 40 + 1);
      for (int step = 0; step < steps; ++step) {
        const stream_view stream = streams[random() % streams.size()];
        const unsigned action = random() % 100;
        try {
          if ((action < 40 && mine.size() < max_held) || mine.empty()) {
            held h;
            h.resource = static_cast<int>(random() % (vmm_count + pool_count));
            h.bytes = random_size(random, h.resource < vmm_count ? 22 : 20);
            h.stream = stream;
            h.tag = next_tag++;
            h.pointer = h.resource < vmm_count
                            ? vmm[h.resource]->allocate(h.bytes)
                            : pools[h.resource - vmm_count]->allocate(h.bytes, stream);
            ++allocations[h.resource];
            std::memset(h.pointer, h.tag, h.bytes);
            mine.push_back(h);
          } else if (action < 70 || mine.size() >= max_held) {
            const std::size_t index = random() % mine.size();
            release(mine[index], random() % 3 == 0 ? stream : mine[index].stream);
            mine[index] = mine.back();
            mine.pop_back();
          } else if (action < 78) {
            // Hand one over, or take one someone handed over.
            std::lock_guard lock(handover_mutex);
            if (random() % 2 == 0 || handover.empty()) {
              const std::size_t index = random() % mine.size();
              handover.push_back(mine[index]);
              mine[index] = mine.back();
              mine.pop_back();
            } else {
              mine.push_back(handover.back());
              handover.pop_back();
            }
          } else if (action < 84) {
            // Lookups find the owner, from any interior pointer.
            const held& h = mine[random() % mine.size()];
            const auto found = vmm_pmr::mapping_registry::global().find(
                static_cast<const char*>(h.pointer) + h.bytes - 1);
            const void* owner = h.resource < vmm_count
                                    ? static_cast<const void*>(vmm[h.resource].get())
                                    : static_cast<const void*>(pools[h.resource - vmm_count].get());
            if (!found || found->owner != owner) ++misattributed;
          } else if (action < 88) {
            // Share a vmm_resource allocation with the other resource, read it there.
            const held& h = mine[random() % mine.size()];
            if (h.resource == 0) {
              const vmm_pmr::exported_allocation shared = vmm[0]->export_allocation(h.pointer);
              void* view = vmm[1]->import_allocation(shared);
              if (*static_cast<const unsigned char*>(view) != h.tag) ++corrupted;
              vmm[1]->deallocate(view, h.bytes);
              ++allocations[1];
            }
          } else if (action < 91) {
            // Change access and back (to memory only this thread touches).
            const held& h = mine[random() % mine.size()];
            if (h.resource < vmm_count) {
              const vmm_pmr::access_grant read{0, vmm_pmr::access_mode::read};
              const vmm_pmr::access_grant read_write{0, vmm_pmr::access_mode::read_write};
              vmm[h.resource]->set_access(h.pointer, {&read, 1});
              vmm[h.resource]->set_access(h.pointer, {&read_write, 1});
            }
          } else if (action < 94) {
            const int resource = static_cast<int>(random() % (vmm_count + pool_count));
            int on_stack = 0;
            if (resource < vmm_count) {
              vmm[resource]->deallocate(&on_stack, sizeof on_stack);
            } else {
              pools[resource - vmm_count]->deallocate(&on_stack, sizeof on_stack, stream);
            }
            ++bad_frees[resource];
          } else if (action < 98) {
            events->complete_all(stream);
          } else {
            pools[random() % pool_count]->trim(std::size_t{4} << 20);
          }
        } catch (const std::exception& failure) {
          UNSCOPED_INFO("thread " << t << ", step " << step << ": " << failure.what());
          ++unexpected_errors;
        }
      }
      std::lock_guard lock(leftovers_mutex);
      leftovers.insert(leftovers.end(), mine.begin(), mine.end());
    });
  }
  for (std::thread& thread : threads) thread.join();
  leftovers.insert(leftovers.end(), handover.begin(), handover.end());

  CHECK(unexpected_errors == 0);
  CHECK(corrupted == 0);
  CHECK(misattributed == 0);
  for (const held& h : leftovers) CHECK(intact(h));

  // The registry holds exactly what is live, resource by resource.
  for (int r = 0; r < vmm_count; ++r) {
    std::set<vmm_pmr::address> expected;
    for (const held& h : leftovers) {
      if (h.resource == r) expected.insert(reinterpret_cast<vmm_pmr::address>(h.pointer));
    }
    std::set<vmm_pmr::address> registered;
    for (const auto& info : vmm[r]->live_allocations()) registered.insert(info.base);
    CHECK(registered == expected);
    const vmm_pmr::allocation_stats stats = vmm[r]->stats();
    CHECK(stats.live_count == expected.size());
    CHECK(stats.total_count == allocations[r]);
    CHECK(stats.deallocation_errors == bad_frees[r]);
  }
  std::size_t pool_mapped = 0;
  for (int p = 0; p < pool_count; ++p) {
    std::size_t live = 0;
    for (const held& h : leftovers) live += h.resource == vmm_count + p ? 1 : 0;
    CHECK(pools[p]->check_invariants() == "");
    const vmm_pmr::stream_ordered_stats stats = pools[p]->stats();
    CHECK(stats.live_count == live);
    CHECK(stats.allocations == allocations[vmm_count + p]);
    CHECK(stats.allocations - stats.deallocations == live);
    CHECK(stats.allocations == stats.same_stream_reuses + stats.settled_reuses +
                                   stats.completed_stream_reuses + stats.waited_stream_reuses +
                                   stats.grown_allocations);
    CHECK(stats.deallocation_errors == bad_frees[vmm_count + p]);
    CHECK(stats.mapped_bytes == stats.live_block_bytes + stats.cached_bytes);
    std::size_t registered = 0;
    for (const auto& chunk : vmm_pmr::mapping_registry::global().live(pools[p].get())) {
      registered += chunk.mapped_bytes;
    }
    CHECK(registered == stats.mapped_bytes);
    pool_mapped += stats.mapped_bytes;
  }
  // The backend maps exactly what the resources hold.
  std::size_t vmm_mapped = 0;
  for (const auto& resource : vmm) vmm_mapped += resource->stats().live_mapped_bytes;
  CHECK(counting->live().mapped_bytes == vmm_mapped + pool_mapped);

  for (const held& h : leftovers) release(h, h.stream);
  for (auto& resource : pools) resource.reset();
  for (auto& resource : vmm) resource.reset();
  CHECK(counting->live() == vmm_pmr::testing::live_objects{});
  CHECK(events->live_events() == 0);
  CHECK(reports.leaks.empty());
  std::size_t expected_bad = 0;
  for (const auto& count : bad_frees) expected_bad += count;
  CHECK(reports.bad_deallocations.size() == expected_bad);
}
