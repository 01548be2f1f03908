// trace_writer: RMM's log format row by row, every event of every thread in its order,
// flush, and the failures (a path that cannot be opened, a disk that fills up).
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_exception.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <thread>
#include <vector>

#include "support/trace_file.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/recording/trace_writer.hpp"

using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::MessageMatches;
using vmm_pmr::trace_action;
using vmm_pmr::trace_event;
using vmm_pmr::trace_writer;
using vmm_pmr::test::read_trace;
using vmm_pmr::test::scratch_file;

TEST_CASE("trace_writer writes one row per event in RMM's log format", "[recording]") {
  scratch_file file;
  trace_event at_noon = vmm_pmr::make_trace_event(
      trace_action::allocate, reinterpret_cast<void*>(0x7f0000001000), 1024, 0xab00);
  {
    trace_writer writer(file.path());
    writer.record(at_noon);
    writer.record(trace_action::free, reinterpret_cast<void*>(0x7f0000001000), 1024, 0);
    writer.record(trace_action::allocate_failure, nullptr, std::size_t{1} << 40, 0x10);
  }
  const auto rows = read_trace(file.path());
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].thread == at_noon.thread);
  CHECK(rows[0].action == "allocate");
  CHECK(rows[0].pointer == 0x7f0000001000);
  CHECK(rows[0].bytes == 1024);
  CHECK(rows[0].stream == 0xab00);
  CHECK(rows[1].action == "free");
  CHECK(rows[1].stream == 0);
  CHECK(rows[2].action == "allocate failure");
  CHECK(rows[2].pointer == 0);
  CHECK(rows[2].bytes == std::size_t{1} << 40);
  CHECK(rows[2].stream == 0x10);
}

TEST_CASE("trace_writer writes the event's local time with microseconds", "[recording]") {
  scratch_file file;
  trace_event event = vmm_pmr::make_trace_event(trace_action::allocate, nullptr, 1, 0);
  std::tm local{};
  event.time = std::chrono::system_clock::from_time_t(std::mktime([&] {
                 local.tm_year = 120;
                 local.tm_mon = 0;
                 local.tm_mday = 2;
                 local.tm_hour = 13;
                 local.tm_min = 4;
                 local.tm_sec = 5;
                 local.tm_isdst = -1;
                 return &local;
               }())) +
               std::chrono::microseconds(42);
  {
    trace_writer writer(file.path());
    writer.record(event);
  }
  const auto rows = read_trace(file.path());
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].time == "13:04:05.000042");
}

TEST_CASE("trace_writer's flush writes what was recorded before it", "[recording]") {
  scratch_file file;
  trace_writer writer(file.path());
  for (int i = 0; i < 100; ++i) {
    writer.record(trace_action::allocate, reinterpret_cast<void*>(0x1000 * (i + 1)), 8, 0);
  }
  REQUIRE(writer.flush());
  CHECK(read_trace(file.path()).size() == 100);
  CHECK(writer.status().empty());
}

TEST_CASE("trace_writer loses no event of any thread and keeps each thread's order",
          "[recording]") {
  scratch_file file;
  constexpr int threads = 4;
  constexpr std::uintptr_t per_thread = 20000;
  {
    trace_writer writer(file.path());
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&writer, t] {
        for (std::uintptr_t i = 0; i < per_thread; ++i) {
          // The thread in the stream column, its sequence in the size column.
          writer.record(trace_action::allocate, reinterpret_cast<void*>(0x1000 + i), i,
                        static_cast<std::uintptr_t>(t));
        }
      });
    }
    for (std::thread& worker : workers) worker.join();
  }
  const auto rows = read_trace(file.path());
  REQUIRE(rows.size() == threads * per_thread);
  std::map<std::uintptr_t, std::size_t> next;
  std::map<std::uintptr_t, std::uint64_t> thread_of;
  for (const auto& row : rows) {
    REQUIRE(row.bytes == next[row.stream]);
    ++next[row.stream];
    const auto [known, added] = thread_of.emplace(row.stream, row.thread);
    REQUIRE(known->second == row.thread);
  }
  CHECK(thread_of.size() == threads);
}

TEST_CASE("trace_writer names the path it cannot open", "[recording][bad_input]") {
  CHECK_THROWS_MATCHES(trace_writer("/nonexistent-directory/trace.csv"), vmm_pmr::error,
                       MessageMatches(ContainsSubstring("'/nonexistent-directory/trace.csv'") &&
                                      ContainsSubstring("No such file or directory")));
}

TEST_CASE("a trace_writer whose writes fail keeps the failure and drops events without throwing",
          "[recording][bad_input]") {
  if (!std::filesystem::exists("/dev/full")) SKIP("no /dev/full");
  trace_writer writer("/dev/full");
  writer.record(trace_action::allocate, reinterpret_cast<void*>(0x1000), 8, 0);
  CHECK_FALSE(writer.flush());
  CHECK_THAT(writer.status(), ContainsSubstring("'/dev/full'") &&
                                  ContainsSubstring("No space left on device") &&
                                  ContainsSubstring("later events are dropped"));
  writer.record(trace_action::free, reinterpret_cast<void*>(0x1000), 8, 0);
  CHECK(writer.dropped_events() >= 1);
  CHECK_FALSE(writer.flush());
}
