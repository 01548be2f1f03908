// The command line of vmm_pmr_bench, parsed and checked (by CLI11).
//
// Parsing only checks what can be checked without a device (syntax, ranges, units); the
// values that depend on the backend (default sizes, growth target) are resolved later in
// run_settings. Every mistake is a usage_error whose message names the option and says
// what it accepts; main() prints it and exits with status 2.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace vmm_pmr::bench {

enum class backend_request { automatic, cuda, host };

// `vmm_pmr_bench compare OLD.json NEW.json`: two reports, row by row.
struct compare_request {
  std::string old_path;
  std::string new_path;
};

struct bench_options {
  std::vector<std::string> suites;  // empty: every available suite
  backend_request backend = backend_request::automatic;
  std::string help;  // not empty: --help was asked for; print this and exit
  bool list = false;
  std::optional<compare_request> compare;
  bool quick = false;
  bool progress = true;
  std::optional<std::vector<std::size_t>> sizes;
  std::optional<std::size_t> repetitions;
  std::optional<std::size_t> warmup;
  std::optional<std::vector<std::size_t>> grow_to;
  std::optional<std::size_t> churn_operations;
  std::optional<std::size_t> churn_slots;
  std::optional<std::uint64_t> seed;
  std::vector<std::string> traces;  // replay: the trace files, in order
  std::size_t host_granularity = std::size_t{2} << 20;
  std::string json_path;
  std::string csv_path;
  std::string command_line;  // as typed, for the report header
};

class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

bench_options parse_command_line(int argc, const char* const* argv);

}  // namespace vmm_pmr::bench
