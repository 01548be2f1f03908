// stream_ordered_resource::sleep() and wake(): physical memory given back while every
// address stays valid. On the host backend under the test doubles (counting_backend says
// what is really mapped and held), plus fault injection at every backend call of wake().
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_exception.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/stream_ordered_harness.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"

using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::MessageMatches;
using vmm_pmr::sleep_contents;
using vmm_pmr::stream_ordered_options;
using vmm_pmr::stream_view;
using vmm_pmr::test::as_address;
using vmm_pmr::test::granule_chunks;
using vmm_pmr::test::stream_ordered_harness;
using vmm_pmr::test::test_stream;
using vmm_pmr::test::two_mib;
using vmm_pmr::testing::backend_call;
using vmm_pmr::testing::injected_failure;

namespace {

constexpr std::size_t mib = std::size_t{1} << 20;
const stream_view stream_a = test_stream(0xa0);
const stream_view stream_b = test_stream(0xb0);

std::vector<std::uint8_t> pattern(std::size_t bytes, std::uint8_t seed) {
  std::vector<std::uint8_t> data(bytes);
  for (std::size_t i = 0; i < bytes; ++i) data[i] = static_cast<std::uint8_t>(i * 13 + seed);
  return data;
}

void write(vmm_pmr::backend& driver, void* at, const std::vector<std::uint8_t>& data) {
  driver.copy_from_host(as_address(at), data.data(), data.size());
}

std::vector<std::uint8_t> read(vmm_pmr::backend& driver, void* at, std::size_t bytes) {
  std::vector<std::uint8_t> data(bytes);
  driver.copy_to_host(data.data(), as_address(at), bytes);
  return data;
}

}  // namespace

TEST_CASE("sleep gives every byte back and keeps the addresses; wake restores kept contents",
          "[stream_ordered][sleep]") {
  stream_ordered_harness harness;
  auto resource = harness.make(granule_chunks());
  void* weights = resource->allocate(3 * mib, stream_a);  // spans two chunks
  void* scratch = resource->allocate(mib, stream_a);
  void* freed = resource->allocate(two_mib, stream_a);  // a chunk of its own, freed below
  const auto kept = pattern(3 * mib, 7);
  write(*harness.events, weights, kept);
  resource->deallocate(freed, two_mib, stream_a);
  const std::size_t mapped = resource->stats().mapped_bytes;

  CHECK(resource->sleep(sleep_contents::keep) == mapped);
  CHECK(resource->asleep());
  CHECK(harness.counting->live().physical_bytes == 0);
  CHECK(harness.counting->live().mapped_bytes == 0);
  CHECK(harness.events->device_synchronizations() == 1);
  CHECK(resource->stats().sleeping_bytes == 2 * two_mib);            // the free chunk was released
  CHECK(harness.counting->live().pinned_host_bytes == 2 * two_mib);  // the kept contents
  CHECK(resource->check_invariants().empty());

  resource->wake();
  CHECK_FALSE(resource->asleep());
  CHECK(read(*harness.events, weights, kept.size()) == kept);  // the same address
  CHECK(harness.counting->live().physical_bytes == 2 * two_mib);
  CHECK(harness.counting->live().pinned_host_bytes == 0);
  CHECK(resource->stats().sleeping_bytes == 0);
  CHECK(resource->check_invariants().empty());
  CHECK(vmm_pmr::test::bytes_add_up(*resource, *harness.counting));
  resource->deallocate(weights, 3 * mib, stream_a);
  resource->deallocate(scratch, mib, stream_a);
}

TEST_CASE("contents discarded at sleep are not copied, and the memory is usable after wake",
          "[stream_ordered][sleep]") {
  stream_ordered_harness harness;
  auto resource = harness.make(granule_chunks());
  void* cache = resource->allocate(two_mib, stream_a);
  write(*harness.events, cache, pattern(two_mib, 1));
  resource->sleep(sleep_contents::discard);
  CHECK(harness.counting->live().pinned_host_bytes == 0);
  resource->wake();
  const auto fresh = pattern(two_mib, 9);
  write(*harness.events, cache, fresh);
  CHECK(read(*harness.events, cache, two_mib) == fresh);
  resource->deallocate(cache, two_mib, stream_a);
}

TEST_CASE(
    "allocate while asleep is an error saying so; deallocate works; wake maps only what is live",
    "[stream_ordered][sleep]") {
  stream_ordered_harness harness;
  auto resource = harness.make(granule_chunks());
  void* first = resource->allocate(two_mib, stream_a);
  void* second = resource->allocate(two_mib, stream_a);
  resource->sleep(sleep_contents::discard);

  CHECK_THROWS_MATCHES(resource->allocate(mib, stream_b), vmm_pmr::error,
                       MessageMatches(ContainsSubstring("asleep") && ContainsSubstring("wake()") &&
                                      ContainsSubstring("allocate(1 MiB")));
  resource->deallocate(second, two_mib, stream_a);
  CHECK(harness.reports.bad_deallocations.empty());
  CHECK(resource->stats().live_count == 1);
  CHECK(resource->trim() == 0);  // nothing holds physical memory
  CHECK(resource->check_invariants().empty());

  resource->wake();
  CHECK(harness.counting->live().physical_bytes == two_mib);  // second's chunk is gone
  CHECK(resource->stats().mapped_bytes == two_mib);
  void* again = resource->allocate(two_mib, stream_b);  // grows into the freed addresses
  CHECK(resource->check_invariants().empty());
  resource->deallocate(again, two_mib, stream_b);
  resource->deallocate(first, two_mib, stream_a);
}

TEST_CASE("a block freed before sleep is never handed out from a cache while asleep or after",
          "[stream_ordered][sleep]") {
  stream_ordered_harness harness;
  auto resource = harness.make(granule_chunks());
  void* live = resource->allocate(mib, stream_a);
  void* cached = resource->allocate(mib, stream_a);
  resource->deallocate(cached, mib, stream_a);  // in stream_a's exact-size cache
  resource->sleep(sleep_contents::discard);
  CHECK_THROWS_AS(resource->allocate(mib, stream_a), vmm_pmr::error);
  resource->deallocate(live, mib, stream_a);  // freed while asleep: no cache either
  CHECK_THROWS_AS(resource->allocate(mib, stream_a), vmm_pmr::error);
  resource->wake();
  CHECK(resource->stats().mapped_bytes == 0);  // nothing live: nothing mapped again
  void* fresh = resource->allocate(mib, stream_a);
  CHECK(harness.counting->live().physical_bytes == two_mib);
  resource->deallocate(fresh, mib, stream_a);
}

TEST_CASE("sleeping twice and waking what is awake change nothing", "[stream_ordered][sleep]") {
  stream_ordered_harness harness;
  auto resource = harness.make(granule_chunks());
  void* block = resource->allocate(two_mib, stream_a);
  resource->wake();
  CHECK(harness.events->device_synchronizations() == 0);
  CHECK(resource->sleep(sleep_contents::keep) == two_mib);
  CHECK(resource->sleep(sleep_contents::keep) == 0);
  CHECK(harness.events->device_synchronizations() == 1);
  resource->wake();
  resource->wake();
  CHECK(harness.counting->live().physical_bytes == two_mib);
  resource->deallocate(block, two_mib, stream_a);
}

TEST_CASE("sleep during a graph capture throws naming the stream and changes nothing",
          "[stream_ordered][sleep][capture]") {
  stream_ordered_harness harness;
  auto resource = harness.make(granule_chunks());
  void* block = resource->allocate(two_mib, stream_a);
  harness.events->begin_capture(stream_a);
  CHECK_THROWS_MATCHES(
      resource->sleep(sleep_contents::keep), vmm_pmr::error,
      MessageMatches(ContainsSubstring("stream 0xa0") && ContainsSubstring("capturing")));
  CHECK_FALSE(resource->asleep());
  CHECK(harness.counting->live().physical_bytes == two_mib);
  harness.events->end_capture(stream_a);
  resource->deallocate(block, two_mib, stream_a);
}

TEST_CASE("a wake the device cannot hold fails naming the bytes, stays asleep, and wakes later",
          "[stream_ordered][sleep]") {
  stream_ordered_harness harness;
  auto resource = harness.make(granule_chunks());
  void* first = resource->allocate(two_mib, stream_a);
  void* second = resource->allocate(two_mib, stream_a);
  const auto kept = pattern(two_mib, 3);
  write(*harness.events, second, kept);
  resource->sleep(sleep_contents::keep);

  harness.faults->fail_nth(backend_call::create, 2, injected_failure::out_of_memory);
  CHECK_THROWS_MATCHES(
      resource->wake(), vmm_pmr::out_of_memory,
      MessageMatches(ContainsSubstring("wake()") && ContainsSubstring("2 MiB of the 4 MiB") &&
                     ContainsSubstring("stays asleep")));
  CHECK(resource->asleep());
  CHECK(harness.counting->live().physical_bytes == 0);
  CHECK(harness.counting->live().mapped_bytes == 0);
  CHECK(resource->check_invariants().empty());

  harness.faults->disarm();
  resource->wake();
  CHECK(read(*harness.events, second, kept.size()) == kept);
  resource->deallocate(first, two_mib, stream_a);
  resource->deallocate(second, two_mib, stream_a);
}

TEST_CASE("a failure at any backend call of wake leaves the resource asleep, leaking nothing",
          "[stream_ordered][sleep][fault_injection]") {
  stream_ordered_harness harness;
  auto resource = harness.make(granule_chunks());
  void* first = resource->allocate(two_mib, stream_a);
  void* second = resource->allocate(two_mib, stream_a);
  resource->sleep(sleep_contents::keep);
  // A wake's calls, counted from a successful one.
  const std::size_t calls_before = harness.faults->total_calls();
  resource->wake();
  const std::size_t wake_calls = harness.faults->total_calls() - calls_before;
  REQUIRE(wake_calls == 6);  // create, map, set access: per chunk
  resource->sleep(sleep_contents::keep);

  for (std::size_t n = 1; n <= wake_calls; ++n) {
    for (const injected_failure failure :
         {injected_failure::out_of_memory, injected_failure::driver_error}) {
      harness.faults->fail_nth_call(n, failure);
      CHECK_THROWS(resource->wake());
      CHECK(harness.faults->fired());
      CHECK(resource->asleep());
      CHECK(harness.counting->live().physical_bytes == 0);
      CHECK(harness.counting->live().mapped_bytes == 0);
      CHECK(resource->check_invariants().empty());
    }
  }
  harness.faults->disarm();
  resource->wake();
  CHECK(harness.counting->live().physical_bytes == 2 * two_mib);
  resource->deallocate(first, two_mib, stream_a);
  resource->deallocate(second, two_mib, stream_a);
}

TEST_CASE("1,000 sleep and wake cycles hold no more than the first", "[stream_ordered][sleep]") {
  stream_ordered_harness harness;
  auto resource = harness.make(granule_chunks());
  void* weights = resource->allocate(3 * mib, stream_a);
  const auto kept = pattern(3 * mib, 5);
  write(*harness.events, weights, kept);
  std::size_t held_after_first = 0;
  for (int cycle = 0; cycle < 1000; ++cycle) {
    resource->sleep(sleep_contents::keep);
    REQUIRE(harness.counting->live().physical_bytes == 0);
    resource->wake();
    void* kv = resource->allocate(mib, stream_b);  // used and freed between cycles
    resource->deallocate(kv, mib, stream_b);
    if (cycle == 0) held_after_first = harness.counting->live().physical_bytes;
    REQUIRE(harness.counting->live().physical_bytes <= held_after_first);
  }
  CHECK(read(*harness.events, weights, kept.size()) == kept);
  CHECK(resource->check_invariants().empty());
  resource->deallocate(weights, 3 * mib, stream_a);
}

TEST_CASE("a resource destroyed asleep reports its live blocks as leaks and holds nothing",
          "[stream_ordered][sleep]") {
  stream_ordered_harness harness;
  {
    auto resource = harness.make(granule_chunks());
    resource->allocate(two_mib, stream_a);
    resource->sleep(sleep_contents::keep);
  }
  CHECK(harness.reports.leaks.size() == 1);
  CHECK(harness.counting->live().physical_bytes == 0);
  CHECK(harness.counting->live().pinned_host_bytes == 0);
  CHECK(harness.counting->live().mapped_bytes == 0);
}

TEST_CASE("the hooks run before a sleep and after a wake, not when there is nothing to do",
          "[stream_ordered][sleep]") {
  stream_ordered_harness harness;
  auto resource = harness.make(granule_chunks());
  void* block = resource->allocate(two_mib, stream_a);
  std::vector<std::string> calls;
  resource->set_sleep_hooks(
      [&] {
        // Still mapped: a hook may use the memory (copy it out, deregister it).
        calls.push_back(harness.counting->live().physical_bytes == two_mib ? "before, mapped"
                                                                           : "before, unmapped");
      },
      [&] {
        calls.push_back(harness.counting->live().physical_bytes == two_mib ? "after, mapped"
                                                                           : "after, unmapped");
      });
  resource->wake();  // awake: no hook
  resource->sleep(sleep_contents::keep);
  resource->sleep(sleep_contents::keep);  // asleep already: no hook
  resource->wake();
  CHECK(calls == std::vector<std::string>{"before, mapped", "after, mapped"});
  resource->deallocate(block, two_mib, stream_a);
}

TEST_CASE("a before-sleep hook that throws stops the sleep with nothing changed",
          "[stream_ordered][sleep]") {
  stream_ordered_harness harness;
  auto resource = harness.make(granule_chunks());
  void* block = resource->allocate(two_mib, stream_a);
  resource->set_sleep_hooks([] { throw std::runtime_error("NCCL deregistration failed"); }, {});
  CHECK_THROWS_WITH(resource->sleep(sleep_contents::keep), "NCCL deregistration failed");
  CHECK_FALSE(resource->asleep());
  CHECK(harness.counting->live().physical_bytes == two_mib);
  CHECK(harness.events->device_synchronizations() == 0);
  resource->set_sleep_hooks({}, {});
  CHECK(resource->sleep(sleep_contents::keep) == two_mib);
  resource->wake();
  resource->deallocate(block, two_mib, stream_a);
}

TEST_CASE("threads allocating and freeing while another sleeps and wakes leave the pool whole",
          "[stream_ordered][sleep][concurrency]") {
  stream_ordered_harness harness;
  auto resource = harness.make(granule_chunks());
  harness.events->complete_everything();
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> refused{0};
  std::atomic<std::size_t> served{0};
  std::vector<std::thread> workers;
  for (std::uintptr_t t = 0; t < 3; ++t) {
    workers.emplace_back([&, t] {
      const stream_view stream = test_stream(0x100 * (t + 1));
      std::vector<std::pair<void*, std::size_t>> held;
      for (std::size_t i = 0; !stop.load(); ++i) {
        const std::size_t bytes = (i % 7 + 1) * 64 * 1024;
        try {
          held.emplace_back(resource->allocate(bytes, stream), bytes);
          ++served;
        } catch (const vmm_pmr::error&) {
          ++refused;  // asleep
        }
        if (held.size() > 8 || (!held.empty() && i % 3 == 0)) {
          resource->deallocate(held.front().first, held.front().second, stream);
          held.erase(held.begin());
        }
      }
      for (const auto& [pointer, bytes] : held) resource->deallocate(pointer, bytes, stream);
    });
  }
  // Each phase lasts until the workers have run into it: some refusals while asleep, some
  // allocations while awake, however slowly the threads are scheduled (sanitizers).
  const auto wait_for = [](const std::atomic<std::size_t>& counter, std::size_t beyond) {
    while (counter.load() <= beyond) std::this_thread::yield();
  };
  std::size_t mapped_while_asleep = 0;
  for (int cycle = 0; cycle < 20; ++cycle) {
    wait_for(served, served.load() + 3);
    resource->sleep(cycle % 2 == 0 ? sleep_contents::keep : sleep_contents::discard);
    wait_for(refused, refused.load() + 3);
    // Asleep, nothing is mapped, whatever the other threads do meanwhile.
    const vmm_pmr::stream_ordered_stats asleep = resource->stats();
    if (asleep.sleeping_bytes != asleep.mapped_bytes ||
        harness.counting->live().mapped_bytes != 0) {
      ++mapped_while_asleep;
    }
    resource->wake();
  }
  stop = true;
  for (std::thread& worker : workers) worker.join();
  INFO(served.load() << " served, " << refused.load() << " refused while asleep");
  CHECK(mapped_while_asleep == 0);
  CHECK_FALSE(resource->asleep());
  CHECK(resource->stats().live_count == 0);
  CHECK(resource->check_invariants().empty());
  CHECK(vmm_pmr::test::bytes_add_up(*resource, *harness.counting,
                                    vmm_pmr::test::physical_count::unreliable));
}
