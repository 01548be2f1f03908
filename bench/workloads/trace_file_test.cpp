// The trace reader (trace_file.hpp): what a trace turns into, the shipped trace's own
// figures, gzip by its magic bytes, and a clear file:line error for each kind of bad row.
#include "workloads/trace_file.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

using Catch::Matchers::ContainsSubstring;
using vmm_pmr::bench::parse_trace;
using vmm_pmr::bench::read_trace_file;
using vmm_pmr::bench::recorded_trace;
using vmm_pmr::bench::trace_action;
using vmm_pmr::bench::trace_error;

constexpr std::size_t mib = std::size_t{1} << 20;
const std::string header = "Thread,Time,Action,Pointer,Size,Stream\n";
const std::string shipped_trace =
    std::string(VMM_PMR_BENCH_SOURCE_ROOT) + "/traces/pytorch-gpt-train.csv.gz";

std::string parse_error(const std::string& text) {
  try {
    parse_trace(text, "t.csv");
  } catch (const trace_error& error) {
    return error.what();
  }
  return "no error";
}

std::filesystem::path temporary_copy(const std::string& from, const std::string& name,
                                     std::size_t keep_bytes = std::string::npos) {
  const auto to = std::filesystem::temp_directory_path() / name;
  std::ifstream in(from, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(to, std::ios::binary) << bytes.substr(0, keep_bytes);
  return to;
}

}  // namespace

TEST_CASE("a trace becomes events with dense allocation, thread and stream indexes",
          "[trace_file]") {
  const recorded_trace trace = parse_trace(header +
                                               "7,00:00:00.000001,allocate,0x7f00,100,0\n"
                                               "9,00:00:00.000002,allocate,0x8f00,50,0x55d0\n"
                                               "7,00:00:00.000003,free,0x7f00,100,0x55d0\n"
                                               "9,00:00:00.000004,allocate,0x7f00,30,0\n",
                                           "runs/small.csv");
  REQUIRE(trace.events.size() == 4);
  CHECK(trace.name == "small");
  CHECK(trace.thread_ids == std::vector<std::uint64_t>{7, 9});
  CHECK(trace.stream_ids == std::vector<std::uint64_t>{0, 0x55d0});
  CHECK(trace.events[1].thread == 1);
  CHECK(trace.events[1].stream == 1);
  CHECK(trace.events[2].action == trace_action::free);
  CHECK(trace.events[2].allocation == 0);
  CHECK(trace.events[2].bytes == 100);
  // The pointer is reused: a new allocation, a new id.
  CHECK(trace.events[3].action == trace_action::allocate);
  CHECK(trace.events[3].allocation == 2);
  CHECK(trace.allocations == 3);
  CHECK(trace.frees == 1);
  CHECK(trace.peak_live_bytes == 150);
  CHECK(trace.final_live_bytes == 80);
  CHECK(trace.final_live_count == 2);
}

TEST_CASE("allocate failure rows are counted and not replayed", "[trace_file]") {
  const recorded_trace trace = parse_trace(header +
                                               "1,00:00:00.000001,allocate failure,0x0,1000,0\n"
                                               "1,00:00:00.000002,allocate,0x10,10,0\r\n",
                                           "t.csv");
  CHECK(trace.failed_allocations == 1);
  REQUIRE(trace.events.size() == 1);
  CHECK(trace.peak_live_bytes == 10);
}

TEST_CASE("a bad trace is refused with its file and line", "[trace_file]") {
  CHECK_THAT(parse_error("Thread,Time,Action,Pointer,Size\n"),
             ContainsSubstring("t.csv:1: the header is 'Thread,Time,Action,Pointer,Size'"));
  CHECK_THAT(parse_error(""), ContainsSubstring("t.csv: the trace is empty"));
  CHECK_THAT(parse_error(header + "1,0,allocate,0x10,10,0\n1,0,realloc,0x10,10,0\n"),
             ContainsSubstring("t.csv:3: unknown action 'realloc'"));
  CHECK_THAT(parse_error(header + "1,0,allocate,0x10,ten,0\n"),
             ContainsSubstring("t.csv:2: Size 'ten' is not a whole decimal number"));
  CHECK_THAT(parse_error(header + "1,0,allocate,0x10,-1,0\n"),
             ContainsSubstring("t.csv:2: Size '-1'"));
  CHECK_THAT(parse_error(header + "1,0,allocate,0xzz,10,0\n"),
             ContainsSubstring("t.csv:2: Pointer '0xzz' is not a hexadecimal number"));
  CHECK_THAT(parse_error(header + "1,0,allocate,0x10,10,stream\n"),
             ContainsSubstring("t.csv:2: Stream 'stream' is not a number"));
  CHECK_THAT(parse_error(header + "1,0,allocate,0x10,10\n"),
             ContainsSubstring("t.csv:2: 5 fields, expected 6"));
}

TEST_CASE("rows of 0 bytes are counted and not replayed", "[trace_file]") {
  // PyTorch's empty tensors: every one at the same address, several live at once.
  const recorded_trace trace = parse_trace(header +
                                               "1,0,allocate,0x100,0,0\n"
                                               "1,0,allocate,0x10,10,0\n"
                                               "1,0,allocate,0x100,0,0\n"
                                               "1,0,free,0x100,0,0\n"
                                               "1,0,free,0x10,10,0\n"
                                               "1,0,free,0x100,0,0\n",
                                           "t.csv");
  CHECK(trace.zero_byte_rows == 4);
  REQUIRE(trace.events.size() == 2);
  CHECK(trace.allocations == 1);
  CHECK(trace.frees == 1);
  CHECK(trace.peak_live_bytes == 10);
  CHECK(trace.final_live_count == 0);
  CHECK_THAT(
      parse_error(header + "1,0,allocate,0x10,10,0\n1,0,free,0x10,0,0\n"),
      ContainsSubstring("t.csv:3: free of 0x10 with 0 bytes, but it was allocated with 10 bytes"));
}

TEST_CASE("a free must name a live allocation of the same size", "[trace_file]") {
  CHECK_THAT(parse_error(header + "1,0,allocate,0x10,10,0\n1,0,free,0x20,10,0\n"),
             ContainsSubstring("t.csv:3: free of 0x20, which is not live"));
  CHECK_THAT(parse_error(header + "1,0,allocate,0x10,10,0\n1,0,free,0x10,10,0\n"
                                  "1,0,free,0x10,10,0\n"),
             ContainsSubstring("t.csv:4: free of 0x10, which is not live"));
  CHECK_THAT(
      parse_error(header + "1,0,allocate,0x10,10,0\n1,0,free,0x10,12,0\n"),
      ContainsSubstring("t.csv:3: free of 0x10 with 12 bytes, but it was allocated with 10"));
  CHECK_THAT(parse_error(header + "1,0,allocate,0x10,10,0\n\n1,0,allocate,0x10,10,0\n"),
             ContainsSubstring("t.csv:4: allocate at 0x10, which is still live"));
}

TEST_CASE("the shipped trace reads with the figures its README gives", "[trace_file]") {
  const recorded_trace trace = read_trace_file(shipped_trace);
  CHECK(trace.name == "pytorch-gpt-train");
  CHECK(trace.events.size() == 61654);
  CHECK(trace.allocations + trace.frees == 61654);
  CHECK(trace.failed_allocations == 0);
  CHECK(trace.thread_ids.size() == 1);
  CHECK(trace.stream_ids == std::vector<std::uint64_t>{0});
  CHECK((trace.peak_live_bytes + mib / 2) / mib == 18154);
  CHECK((trace.final_live_bytes + mib / 2) / mib == 3466);
}

#if VMM_PMR_BENCH_WITH_ZLIB
TEST_CASE("gzip is recognised by its magic bytes, not its name", "[trace_file]") {
  const auto renamed = temporary_copy(shipped_trace, "vmm_pmr_trace_renamed.csv");
  CHECK(read_trace_file(renamed.string()).events.size() == 61654);
  std::filesystem::remove(renamed);
}

TEST_CASE("a gzip file cut short is refused", "[trace_file]") {
  const auto cut = temporary_copy(shipped_trace, "vmm_pmr_trace_cut.csv.gz", 100000);
  CHECK_THROWS_WITH(read_trace_file(cut.string()), ContainsSubstring("cut short"));
  std::filesystem::remove(cut);
}
#endif

TEST_CASE("a missing trace file is refused with its path", "[trace_file]") {
  CHECK_THROWS_WITH(read_trace_file("/nonexistent/trace.csv"),
                    ContainsSubstring("cannot read the trace '/nonexistent/trace.csv'"));
}
