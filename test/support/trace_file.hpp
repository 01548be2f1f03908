// Reading a trace back for the recording tests: a scratch file that is removed again, and
// the rows of RMM's log format parsed strictly (a malformed row fails the test).
#pragma once

#include <catch2/catch_test_macros.hpp>

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
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

inline std::vector<trace_row> read_trace(const std::filesystem::path& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::string line;
  REQUIRE(std::getline(in, line));
  REQUIRE(line == "Thread,Time,Action,Pointer,Size,Stream");
  static const std::regex row(
      R"(^(\d+),(\d\d:\d\d:\d\d\.\d{6}),(allocate|free|allocate failure),0x([0-9a-f]+),(\d+),0x([0-9a-f]+)$)");
  std::vector<trace_row> rows;
  while (std::getline(in, line)) {
    std::smatch match;
    INFO("row " << rows.size() + 1 << ": " << line);
    REQUIRE(std::regex_match(line, match, row));
    rows.push_back({std::stoull(match[1]), match[2], match[3], std::stoull(match[4], nullptr, 16),
                    std::stoull(match[5]), std::stoull(match[6], nullptr, 16)});
  }
  return rows;
}

}  // namespace vmm_pmr::test
