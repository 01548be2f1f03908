// Reading and checking a recorded trace; see trace_file.hpp.
#include "workloads/trace_file.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <unordered_map>

#if VMM_PMR_BENCH_WITH_ZLIB
#include <zlib.h>
#endif

namespace vmm_pmr::bench {
namespace {

constexpr std::string_view expected_header = "Thread,Time,Action,Pointer,Size,Stream";
constexpr std::size_t field_count = 6;

bool is_gzip(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

// "traces/pytorch-gpt-train.csv.gz" -> "pytorch-gpt-train"
std::string trace_name(std::string_view source) {
  const std::size_t slash = source.find_last_of('/');
  std::string_view name = slash == std::string_view::npos ? source : source.substr(slash + 1);
  for (const std::string_view suffix : {".gz", ".csv"}) {
    if (name.size() > suffix.size() && name.ends_with(suffix)) name.remove_suffix(suffix.size());
  }
  return std::string(name);
}

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  return text;
}

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = line.find(',', start);
    fields.push_back(trimmed(line.substr(start, comma - start)));
    if (comma == std::string_view::npos) return fields;
    start = comma + 1;
  }
}

// A whole unsigned number in `base`, nothing before or after it.
bool parse_number(std::string_view text, int base, std::uint64_t& value) {
  if (text.empty()) return false;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  return error == std::errc{} && end == text.data() + text.size();
}

bool has_hex_prefix(std::string_view text) {
  return text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
}

class trace_parser {
 public:
  explicit trace_parser(std::string_view source) : source_(source) {
    trace_.name = trace_name(source);
  }

  void header(std::string_view line) {
    if (trimmed(line) != expected_header) {
      fail(
          fmt::format("the header is '{}', expected '{}' (the CSV of RMM's "
                      "logging_resource_adaptor)",
                      trimmed(line), expected_header));
    }
  }

  void row(std::string_view line) {
    const std::vector<std::string_view> fields = split_fields(line);
    if (fields.size() != field_count) {
      fail(fmt::format("{} fields, expected {} ({})", fields.size(), field_count, expected_header));
    }
    const std::string_view action = fields[2];
    if (action == "allocate failure") {
      ++trace_.failed_allocations;
      return;
    }
    if (action != "allocate" && action != "free") {
      fail(fmt::format("unknown action '{}': expected allocate, free or allocate failure", action));
    }
    trace_event event;
    event.bytes = decimal(fields[4], "Size");
    const std::uint64_t pointer = hexadecimal(fields[3], "Pointer");
    if (event.bytes == 0) {
      skip_zero_bytes(action, pointer);
      return;
    }
    event.thread = index_of(thread_indexes_, trace_.thread_ids, decimal(fields[0], "Thread"));
    event.stream = index_of(stream_indexes_, trace_.stream_ids, stream_id(fields[5]));
    if (action == "allocate") {
      record_allocation(event, pointer);
    } else {
      record_free(event, pointer);
    }
    trace_.events.push_back(event);
  }

  recorded_trace finish() && {
    trace_.final_live_count = live_.size();
    trace_.final_live_bytes = live_bytes_;
    return std::move(trace_);
  }

  void next_line() { ++line_; }

  [[noreturn]] void fail(std::string_view why) const {
    throw trace_error(fmt::format("{}:{}: {}", source_, line_, why));
  }

 private:
  struct live_allocation {
    std::uint32_t id = 0;
    std::size_t bytes = 0;
  };

  // A zero-byte allocation holds no memory, and allocators answer it without a block,
  // often with one address for all of them (PyTorch's empty tensors): such rows are
  // counted, not replayed. A zero-byte free of a live block is a size mismatch.
  void skip_zero_bytes(std::string_view action, std::uint64_t pointer) {
    if (const auto found = live_.find(pointer); action == "free" && found != live_.end()) {
      fail(fmt::format("free of {:#x} with 0 bytes, but it was allocated with {} bytes", pointer,
                       found->second.bytes));
    }
    ++trace_.zero_byte_rows;
  }

  void record_allocation(trace_event& event, std::uint64_t pointer) {
    if (trace_.allocations >= std::numeric_limits<std::uint32_t>::max()) {
      fail("more than 2^32 - 1 allocations: split the trace");
    }
    const auto [found, inserted] = live_.try_emplace(
        pointer, live_allocation{static_cast<std::uint32_t>(trace_.allocations), event.bytes});
    if (!inserted) {
      fail(
          fmt::format("allocate at {:#x}, which is still live (allocated as allocation {} of "
                      "{} bytes and not freed): the log misses a free or is not in event order",
                      pointer, found->second.id, found->second.bytes));
    }
    event.action = trace_action::allocate;
    event.allocation = found->second.id;
    ++trace_.allocations;
    live_bytes_ += event.bytes;
    trace_.peak_live_bytes = std::max(trace_.peak_live_bytes, live_bytes_);
  }

  void record_free(trace_event& event, std::uint64_t pointer) {
    const auto found = live_.find(pointer);
    if (found == live_.end()) {
      fail(
          fmt::format("free of {:#x}, which is not live (never allocated, or freed already): "
                      "the log misses an allocation or is not in event order",
                      pointer));
    }
    if (found->second.bytes != event.bytes) {
      fail(fmt::format("free of {:#x} with {} bytes, but it was allocated with {} bytes", pointer,
                       event.bytes, found->second.bytes));
    }
    event.action = trace_action::free;
    event.allocation = found->second.id;
    ++trace_.frees;
    live_bytes_ -= event.bytes;
    live_.erase(found);
  }

  std::uint64_t decimal(std::string_view text, std::string_view column) const {
    std::uint64_t value = 0;
    if (!parse_number(text, 10, value)) {
      fail(fmt::format("{} '{}' is not a whole decimal number", column, text));
    }
    return value;
  }

  std::uint64_t hexadecimal(std::string_view text, std::string_view column) const {
    std::uint64_t value = 0;
    const std::string_view digits = has_hex_prefix(text) ? text.substr(2) : text;
    if (!parse_number(digits, 16, value)) {
      fail(fmt::format("{} '{}' is not a hexadecimal number (0x7f37ce800000)", column, text));
    }
    return value;
  }

  // RMM writes the stream as a pointer (0x...) or, for the legacy stream, 0.
  std::uint64_t stream_id(std::string_view text) const {
    std::uint64_t value = 0;
    const bool read = has_hex_prefix(text) ? parse_number(text.substr(2), 16, value)
                                           : parse_number(text, 10, value);
    if (!read) fail(fmt::format("Stream '{}' is not a number (0, 0x55d0c3a1b2c0)", text));
    return value;
  }

  std::uint32_t index_of(std::unordered_map<std::uint64_t, std::uint32_t>& indexes,
                         std::vector<std::uint64_t>& ids, std::uint64_t id) {
    const auto [found, inserted] = indexes.try_emplace(id, static_cast<std::uint32_t>(ids.size()));
    if (inserted) ids.push_back(id);
    return found->second;
  }

  std::string_view source_;
  std::size_t line_ = 0;
  recorded_trace trace_;
  std::unordered_map<std::uint64_t, live_allocation> live_;  // by recorded pointer
  std::size_t live_bytes_ = 0;
  std::unordered_map<std::uint64_t, std::uint32_t> thread_indexes_;
  std::unordered_map<std::uint64_t, std::uint32_t> stream_indexes_;
};

#if VMM_PMR_BENCH_WITH_ZLIB
// Every gzip member of `compressed`, one after the other (what gunzip does).
std::string gunzipped(std::string_view compressed, const std::string& path) {
  z_stream stream{};
  // 16 + MAX_WBITS: a gzip wrapper, not zlib's own.
  if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) {
    throw trace_error(fmt::format("{}: zlib could not start (inflateInit2)", path));
  }
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  stream.avail_in = static_cast<uInt>(compressed.size());
  std::string text;
  char buffer[1 << 16];
  int status = Z_OK;
  while (true) {
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = sizeof buffer;
    status = inflate(&stream, Z_NO_FLUSH);
    text.append(buffer, sizeof buffer - stream.avail_out);
    if (status == Z_STREAM_END) {
      if (stream.avail_in == 0) break;
      inflateReset(&stream);  // another member follows
      continue;
    }
    if (status != Z_OK) break;
    if (stream.avail_in == 0 && stream.avail_out != 0) break;  // truncated
  }
  const char* const why = stream.msg;
  inflateEnd(&stream);
  if (status != Z_STREAM_END) {
    throw trace_error(
        fmt::format("{}: the gzip data is damaged or cut short ({}): check the file with gzip -t",
                    path, why != nullptr ? why : "unexpected end of data"));
  }
  return text;
}
#endif

std::string contents_of(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    throw trace_error(fmt::format("cannot read the trace '{}': {}", path, std::strerror(errno)));
  }
  std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (file.bad()) {
    throw trace_error(fmt::format("reading the trace '{}' failed", path));
  }
  return bytes;
}

}  // namespace

recorded_trace parse_trace(std::string_view text, std::string_view source) {
  trace_parser parser(source);
  bool header_seen = false;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    parser.next_line();
    if (trimmed(line).empty()) continue;
    if (!header_seen) {
      parser.header(line);
      header_seen = true;
    } else {
      parser.row(line);
    }
  }
  if (!header_seen) {
    throw trace_error(
        fmt::format("{}: the trace is empty: expected the header '{}'", source, expected_header));
  }
  return std::move(parser).finish();
}

recorded_trace read_trace_file(const std::string& path) {
  std::string bytes = contents_of(path);
  if (is_gzip(bytes)) {
#if VMM_PMR_BENCH_WITH_ZLIB
    bytes = gunzipped(bytes, path);
#else
    throw trace_error(
        fmt::format("{} is gzip-compressed and this vmm_pmr_bench was built without zlib: "
                    "decompress it first (gunzip -k {}) and pass the .csv, or install zlib "
                    "(zlib1g-dev) and rebuild",
                    path, path));
#endif
  }
  return parse_trace(bytes, path);
}

}  // namespace vmm_pmr::bench
