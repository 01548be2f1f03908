// recording_resource and recording_stream_ordered_resource: the rows match the calls
// (sizes, streams, failures), frees by address are recorded with the allocation's size
// and stream, and a trace that cannot be written leaves the program running.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <memory_resource>
#include <new>
#include <vector>

#include "support/backends_under_test.hpp"
#include "support/stream_ordered_harness.hpp"
#include "support/trace_file.hpp"
#include "vmm_pmr/recording/recording_resource.hpp"
#include "vmm_pmr/recording/recording_stream_ordered_resource.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"

using Catch::Matchers::ContainsSubstring;
using vmm_pmr::recording_resource;
using vmm_pmr::recording_stream_ordered_resource;
using vmm_pmr::stream_ordered_resource;
using vmm_pmr::trace_writer;
using vmm_pmr::test::as_address;
using vmm_pmr::test::read_trace;
using vmm_pmr::test::scratch_file;
using vmm_pmr::test::test_stream;

namespace {

const vmm_pmr::stream_view stream_a = vmm_pmr::test::test_stream(0xa0);
const vmm_pmr::stream_view stream_b = vmm_pmr::test::test_stream(0xb0);

}  // namespace

TEST_CASE("recording_resource records each allocate and free on the legacy stream", "[recording]") {
  scratch_file file;
  std::pmr::monotonic_buffer_resource upstream;
  void* first = nullptr;
  void* second = nullptr;
  {
    recording_resource recorder(upstream, std::make_shared<trace_writer>(file.path()));
    first = recorder.allocate(100, 8);
    second = recorder.allocate(300, 16);
    recorder.deallocate(first, 100, 8);
  }
  const auto rows = read_trace(file.path());
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].action == "allocate");
  CHECK(rows[0].pointer == as_address(first));
  CHECK(rows[0].bytes == 100);
  CHECK(rows[1].pointer == as_address(second));
  CHECK(rows[1].bytes == 300);
  CHECK(rows[2].action == "free");
  CHECK(rows[2].pointer == as_address(first));
  CHECK(rows[2].bytes == 100);
  for (const auto& row : rows) CHECK(row.stream == 0);
}

TEST_CASE("recording_resource records a failed allocate and rethrows it", "[recording]") {
  scratch_file file;
  std::pmr::memory_resource* refusing = std::pmr::null_memory_resource();
  {
    recording_resource recorder(*refusing, std::make_shared<trace_writer>(file.path()));
    CHECK_THROWS_AS(recorder.allocate(4096), std::bad_alloc);
  }
  const auto rows = read_trace(file.path());
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].action == "allocate failure");
  CHECK(rows[0].pointer == 0);
  CHECK(rows[0].bytes == 4096);
}

TEST_CASE("recording_stream_ordered_resource records each call with its stream",
          "[recording][stream_ordered]") {
  scratch_file file;
  vmm_pmr::test::stream_ordered_harness harness;
  auto pool = harness.make();
  void* on_a = nullptr;
  void* on_b = nullptr;
  void* on_default = nullptr;
  {
    recording_stream_ordered_resource recorder(*pool, std::make_shared<trace_writer>(file.path()));
    on_a = recorder.allocate(1000, stream_a);
    on_b = recorder.allocate(5000, stream_b);
    on_default = recorder.allocate(64);  // std::pmr: the pool's stream, the legacy one
    recorder.deallocate(on_a, 1000, stream_b);
    recorder.deallocate_by_pointer(on_b);
    recorder.deallocate(on_default, 64);
    CHECK_THROWS_AS(recorder.allocate(std::size_t{1} << 62, stream_a), std::bad_alloc);
    CHECK(pool->stats().live_count == 0);
  }
  const auto rows = read_trace(file.path());
  REQUIRE(rows.size() == 7);
  const auto check_row = [&](std::size_t i, const char* action, void* pointer, std::size_t bytes,
                             vmm_pmr::stream_view stream) {
    INFO("row " << i);
    CHECK(rows[i].action == action);
    CHECK(rows[i].pointer == as_address(pointer));
    CHECK(rows[i].bytes == bytes);
    CHECK(rows[i].stream == stream.id());
  };
  check_row(0, "allocate", on_a, 1000, stream_a);
  check_row(1, "allocate", on_b, 5000, stream_b);
  check_row(2, "allocate", on_default, 64, {});
  check_row(3, "free", on_a, 1000, stream_b);
  // By address: the size and stream of the allocation.
  check_row(4, "free", on_b, 5000, stream_b);
  check_row(5, "free", on_default, 64, {});
  check_row(6, "allocate failure", nullptr, std::size_t{1} << 62, stream_a);
}

TEST_CASE("a trace that cannot be written leaves allocating and freeing working",
          "[recording][bad_input]") {
  if (!std::filesystem::exists("/dev/full")) SKIP("no /dev/full");
  vmm_pmr::test::stream_ordered_harness harness;
  auto pool = harness.make();
  auto writer = std::make_shared<trace_writer>("/dev/full");
  recording_stream_ordered_resource recorder(*pool, writer);
  for (int round = 0; round < 3; ++round) {
    std::vector<void*> blocks;
    for (int i = 0; i < 1000; ++i) blocks.push_back(recorder.allocate(256, stream_a));
    writer->flush();
    for (void* block : blocks) recorder.deallocate(block, 256, stream_a);
  }
  CHECK(pool->stats().live_count == 0);
  CHECK(pool->stats().allocations == 3000);
  CHECK_THAT(writer->status(), ContainsSubstring("No space left on device"));
  CHECK(writer->dropped_events() > 0);
}
