// A recorded allocation trace, read from RMM's logging_resource_adaptor CSV:
//
//     Thread,Time,Action,Pointer,Size,Stream
//     1,00:00:00.000001,allocate,0x7f37ce800000,4194304,0
//
// plain or gzip-compressed (recognised by its magic bytes, whatever the file is called).
// The replay keeps the file's order and never sleeps, so Time is not read. Pointers only
// pair a free with its allocation: the events hold a dense allocation id instead, and
// recorded thread and stream ids become dense indexes in order of first appearance.
// "allocate failure" rows and rows of 0 bytes are skipped and counted.
//
// Invariant of a trace that reads: every free names an allocation live at that point of
// the file, with the size it was allocated with, and no allocation is made at a pointer
// that is live. Allocations never freed stay live at the end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace vmm_pmr::bench {

enum class trace_action : std::uint8_t { allocate, free };

struct trace_event {
  std::uint32_t thread = 0;      // index into recorded_trace::thread_ids
  std::uint32_t stream = 0;      // index into recorded_trace::stream_ids
  std::uint32_t allocation = 0;  // dense id: the n-th allocation of the file is n
  trace_action action = trace_action::allocate;
  std::size_t bytes = 0;  // of the allocation made or freed
};

struct recorded_trace {
  std::string name;  // the file name without its folder and its .csv/.gz suffixes
  std::vector<trace_event> events;
  std::vector<std::uint64_t> thread_ids;  // as recorded, per thread index
  std::vector<std::uint64_t> stream_ids;  // as recorded, per stream index; 0: legacy stream
  std::size_t allocations = 0;
  std::size_t frees = 0;
  std::size_t failed_allocations = 0;  // "allocate failure" rows, not replayed
  std::size_t zero_byte_rows = 0;      // allocations and frees of 0 bytes, not replayed
  std::size_t peak_live_bytes = 0;     // most bytes live at once, in file order
  std::size_t final_live_bytes = 0;    // live at the end: allocated and never freed
  std::size_t final_live_count = 0;
};

// A trace that cannot be read; the message names the file and line.
class trace_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses the CSV text of a trace; `source` names it in messages and in the trace's name.
recorded_trace parse_trace(std::string_view text, std::string_view source);

// Reads `path`, decompressing it when it is gzip. Throws trace_error.
recorded_trace read_trace_file(const std::string& path);

}  // namespace vmm_pmr::bench
