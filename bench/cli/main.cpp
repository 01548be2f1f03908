// vmm_pmr_bench: runs the suites named on the command line and reports them, or compares
// two reports (compare_reports.hpp).
//
// Order of work: parse (bad arguments exit 2 before anything else happens), open the
// output files (a typo in --json fails now, not after ten minutes of measuring), choose
// the backend and say why, print the header, run each suite, print its table as soon as
// it is done, and write the JSON/CSV at the end. A failing suite is reported and the
// others still run; the exit status is then 1.
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <vector>

#include "cli/backend_choice.hpp"
#include "cli/bench_options.hpp"
#include "cli/run_settings.hpp"
#include "reports/compare_reports.hpp"
#include "reports/environment.hpp"
#include "reports/progress_line.hpp"
#include "reports/report_files.hpp"
#include "reports/report_table.hpp"
#include "suites/suite.hpp"
#include "vmm_pmr/resource/detail/resolved_options.hpp"
#include "vmm_pmr/resource/vmm_options.hpp"

namespace {

using namespace vmm_pmr::bench;

constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

int usage_failure(std::string_view message) {
  fmt::print(stderr, "vmm_pmr_bench: {}\nTry 'vmm_pmr_bench --help'.\n", message);
  return exit_usage;
}

// The suites to run, in the order given, each once; throws usage_error for an unknown or
// unavailable name. With no name, every available suite, those that need traces only
// when some were given.
std::vector<const suite_entry*> selected_suites(const std::vector<std::string>& names,
                                                bool have_traces) {
  std::vector<const suite_entry*> suites;
  if (names.empty()) {
    for (const suite_entry& suite : suite_catalog()) {
      if (suite.run != nullptr && (have_traces || !suite.needs_traces)) suites.push_back(&suite);
    }
    return suites;
  }
  for (const std::string& name : names) {
    const suite_entry* suite = find_suite(name);
    if (suite == nullptr) {
      std::string known;
      for (const suite_entry& entry : suite_catalog()) {
        known += (known.empty() ? "" : ", ") + std::string(entry.name);
      }
      throw usage_error(fmt::format("unknown suite '{}' (suites: {})", name, known));
    }
    if (suite->run == nullptr) {
      throw usage_error(fmt::format("suite '{}' is {}", name, suite->summary));
    }
    if (std::find(suites.begin(), suites.end(), suite) == suites.end()) suites.push_back(suite);
  }
  return suites;
}

std::optional<std::ofstream> open_output(const std::string& path, const char* option) {
  if (path.empty()) return std::nullopt;
  std::ofstream file(path, std::ios::out | std::ios::trunc);
  if (!file) {
    throw usage_error(
        fmt::format("--{}: cannot write '{}': {}", option, path, std::strerror(errno)));
  }
  return file;
}

// The host backend holds one memfd per physical allocation; a long churn or growth
// holds thousands. Raise the soft descriptor limit to the hard one, as allowed.
void raise_file_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

int run(const bench_options& options) {
  const std::vector<const suite_entry*> suites =
      selected_suites(options.suites, !options.traces.empty());
  std::optional<std::ofstream> json_file = open_output(options.json_path, "json");
  std::optional<std::ofstream> csv_file = open_output(options.csv_path, "csv");

  raise_file_descriptor_limit();
  backend_choice choice;
  std::size_t granularity = 0;
  try {
    choice = choose_backend(options.backend, options.host_granularity);
    granularity =
        vmm_pmr::detail::resolve_options(vmm_pmr::vmm_options{}, *choice.vmm_backend).granularity;
  } catch (const std::exception& failure) {
    fmt::print(stderr, "vmm_pmr_bench: {}\n", failure.what());
    return exit_failure;
  }
  const run_settings settings = resolve_run_settings(options, choice.on_gpu);
  const environment facts = describe_environment(choice, granularity, options.command_line);
  print_header(stdout, facts);
  std::fflush(stdout);

  progress_line progress(options.progress);
  suite_context context{.vmm_backend = choice.vmm_backend,
                        .on_gpu = choice.on_gpu,
                        .runtime_baselines = choice.runtime_baselines,
                        .settings = settings,
                        .progress = progress};
  std::vector<suite_result> results;
  bool all_ran = true;
  for (const suite_entry* suite : suites) {
    try {
      results.push_back(suite->run(context));
      progress.clear();
      print_suite_table(stdout, results.back());
    } catch (const std::exception& failure) {
      progress.clear();
      fmt::print(stderr, "vmm_pmr_bench: suite {} failed: {}\n", suite->name, failure.what());
      all_ran = false;
    }
    std::fflush(stdout);
  }

  if (json_file) {
    write_json_report(*json_file, facts, settings, results);
    json_file->close();
    if (!*json_file) {
      fmt::print(stderr, "vmm_pmr_bench: writing '{}' failed\n", options.json_path);
      all_ran = false;
    }
  }
  if (csv_file) {
    write_csv_report(*csv_file, facts, results);
    csv_file->close();
    if (!*csv_file) {
      fmt::print(stderr, "vmm_pmr_bench: writing '{}' failed\n", options.csv_path);
      all_ran = false;
    }
  }
  return all_ran ? EXIT_SUCCESS : exit_failure;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const bench_options options = parse_command_line(argc, argv);
    if (!options.help.empty()) {
      fmt::print("{}", options.help);
      return EXIT_SUCCESS;
    }
    if (options.compare) return compare_reports(*options.compare, stdout);
    if (options.list) {
      for (const suite_entry& suite : suite_catalog()) {
        fmt::print("{:<8} {}\n", suite.name, suite.summary);
      }
      return EXIT_SUCCESS;
    }
    return run(options);
  } catch (const usage_error& failure) {
    return usage_failure(failure.what());
  } catch (const std::exception& failure) {
    fmt::print(stderr, "vmm_pmr_bench: {}\n", failure.what());
    return exit_failure;
  }
}
