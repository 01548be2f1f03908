// Reading a trace back for the recording tests: a scratch file that is removed again, and
// the rows of RMM's log format parsed strictly (a malformed row fails the test).
#pragma once

#include <catch2/catch_test_macros.hpp>

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace vmm_pmr::test {

class scratch_file {
 public:
  scratch_file() {
    std::string name = (std::filesystem::temp_directory_path() / "vmm_pmr_trace_XXXXXX").string();
    const int fd = ::mkstemp(name.data());
    REQUIRE(fd >= 0);
    ::close(fd);
    path_ = name;
  }
  scratch_file(const scratch_file&) = delete;
  scratch_file& operator=(const scratch_file&) = delete;
  ~scratch_file() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct trace_row {
  std::uint64_t thread = 0;
  std::string time;
  std::string action;
  std::uintptr_t pointer = 0;
  std::size_t bytes = 0;
  std::uintptr_t stream = 0;
};

// Parsed by hand, not with std::regex: g++ 12 warns inside <regex> under the sanitizers.
inline bool all_of_digits(std::string_view text, std::string_view digits) {
  return !text.empty() && text.find_first_not_of(digits) == std::string_view::npos;
}

inline bool is_decimal(std::string_view text) { return all_of_digits(text, "0123456789"); }

inline bool is_hex(std::string_view text) {
  return text.starts_with("0x") && all_of_digits(text.substr(2), "0123456789abcdef");
}

// HH:MM:SS.uuuuuu
inline bool is_time(std::string_view text) {
  return text.size() == 15 && text[2] == ':' && text[5] == ':' && text[8] == '.' &&
         is_decimal(text.substr(0, 2)) && is_decimal(text.substr(3, 2)) &&
         is_decimal(text.substr(6, 2)) && is_decimal(text.substr(9));
}

inline std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> fields;
  std::size_t start = 0;
  for (std::size_t comma = line.find(','); comma != std::string::npos;
       comma = line.find(',', start)) {
    fields.push_back(line.substr(start, comma - start));
    start = comma + 1;
  }
  fields.push_back(line.substr(start));
  return fields;
}

inline std::vector<trace_row> read_trace(const std::filesystem::path& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::string line;
  REQUIRE(std::getline(in, line));
  REQUIRE(line == "Thread,Time,Action,Pointer,Size,Stream");
  std::vector<trace_row> rows;
  while (std::getline(in, line)) {
    INFO("row " << rows.size() + 1 << ": " << line);
    const std::vector<std::string> field = split_fields(line);
    REQUIRE(field.size() == 6);
    REQUIRE(is_decimal(field[0]));
    REQUIRE(is_time(field[1]));
    REQUIRE((field[2] == "allocate" || field[2] == "free" || field[2] == "allocate failure"));
    REQUIRE(is_hex(field[3]));
    REQUIRE(is_decimal(field[4]));
    REQUIRE(is_hex(field[5]));
    rows.push_back({std::stoull(field[0]), field[1], field[2], std::stoull(field[3], nullptr, 16),
                    std::stoull(field[4]), std::stoull(field[5], nullptr, 16)});
  }
  return rows;
}

}  // namespace vmm_pmr::test
