// The command line, declared to CLI11; see bench_options.hpp.
//
// Each option is declared once, with its help line, its check and where it is stored, so
// --help cannot describe an option that does not exist. Sizes are read by CLI11's
// AsSizeValue with binary units; decimal units (MB, GB) are refused rather than read as
// binary ones, since a benchmark at 64,000,000 bytes is not one at 64 MiB and a report
// must not leave the reader to guess which was meant.
#include "cli/bench_options.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <bit>
#include <cctype>
#include <charconv>
#include <limits>
#include <string_view>

#include "reports/terminal_text.hpp"
#include "suites/suite.hpp"
#include "vmm_pmr/core/byte_size.hpp"

namespace vmm_pmr::bench {
namespace {

constexpr std::size_t mib = std::size_t{1} << 20;
// More repetitions, operations or slots than any run wants, and far from an overflow.
constexpr std::uint64_t largest_count = std::uint64_t{1} << 40;

// Option help, wrapped for the column CLI11 prints it in.
std::string described(std::string_view text) { return wrapped(text, prose_width - 32, 0, 0); }

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// A byte size of at least `minimum`, for Option::transform: it replaces the text with the
// number of bytes.
CLI::Validator byte_size(std::size_t minimum, std::string_view minimum_reason) {
  return CLI::Validator(
      [minimum, reason = std::string(minimum_reason)](std::string& text) -> std::string {
        const std::string typed = text;
        const std::size_t unit_start =
            std::min(typed.find_first_not_of("0123456789 "), typed.size());
        const std::string unit = lowercase(typed.substr(unit_start));
        if (unit == "kb" || unit == "mb" || unit == "gb" || unit == "tb") {
          return fmt::format(
              "'{}': decimal units are not accepted, sizes are binary (did you "
              "mean {}iB?)",
              typed, typed.substr(unit_start, 1));
        }
        bool converted = false;
        try {
          converted = unit_start != 0 && CLI::AsSizeValue(false)(text).empty();
        } catch (const CLI::ValidationError&) {
          // "1.5GiB": AsSizeValue throws for a number it cannot store whole.
        }
        if (!converted) {
          return fmt::format(
              "'{}' is not a size: write a whole number with an optional binary unit, e.g. "
              "2MiB, 64M, 4096",
              typed);
        }
        const auto bytes = std::stoull(text);
        if (bytes > std::numeric_limits<std::size_t>::max() / 2) {
          return fmt::format("'{}' does not fit in memory", typed);
        }
        if (bytes < minimum) {
          return fmt::format("{} is below {}, {}", format_bytes(bytes), format_bytes(minimum),
                             reason);
        }
        return {};
      },
      "");  // no description: the placeholder (SIZE, LIST) says it
}

// A whole number, checked before CLI11 converts it: some CLI11 versions read "-1" as the
// largest unsigned number, and 2^64 as 2^64 - 1.
CLI::Validator whole_number() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        std::uint64_t value = 0;
        const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (text.empty() || error != std::errc{} || end != text.data() + text.size()) {
          return fmt::format("'{}' is not a whole number (0 to 2^64 - 1)", text);
        }
        return {};
      },
      "");
}

CLI::Validator between(std::uint64_t minimum, std::uint64_t maximum) {
  return CLI::Range(minimum, maximum).description("");
}

CLI::Validator host_granularity() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        const std::size_t granularity = std::stoull(text);
        const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
        if (!std::has_single_bit(granularity) || granularity % page != 0) {
          return fmt::format("{} is not a power of two multiple of the page size ({})",
                             format_bytes(granularity), format_bytes(page));
        }
        return {};
      },
      "");
}

std::string shell_quoted(std::string_view argument) {
  const bool plain = !argument.empty() && std::all_of(argument.begin(), argument.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("-_=./,:+@").find(c) != std::string_view::npos;
  });
  if (plain) return std::string(argument);
  std::string quoted = "'";
  for (char c : argument) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

constexpr std::string_view description =
    "Microbenchmarks of vmm_pmr against the raw driver sequence and the allocators people use "
    "instead. Runs the named suites (default: all available) on one backend and prints one "
    "table per suite under a header naming the device, driver, backend, build and date. Each "
    "number is the median over --reps repetitions, warm-up runs excluded, with the 10th-90th "
    "percentile spread; every suite measures its baselines in the same run and reports ratios "
    "to them. GPU work is timed after synchronising.";

std::string footer() {
  std::string text = "Suites:\n";
  for (const suite_entry& suite : suite_catalog()) {
    text += fmt::format("  {}{}\n", suite.name, suite.run ? "" : " (not yet available)");
    text += wrapped(suite.description, prose_width, 4, 4) + "\n";
  }
  text +=
      "\n"
      "Exit status: 0 when every suite ran; 1 when one failed or the backend asked for is not\n"
      "usable; 2 for a bad command line.\n"
      "\n"
      "Examples:\n"
      "  vmm_pmr_bench --quick                      smoke run of every suite\n"
      "  vmm_pmr_bench latency --sizes=2MiB,1GiB    two sizes only\n"
      "  vmm_pmr_bench --json=new.json && vmm_pmr_bench compare old.json new.json\n"
      "  vmm_pmr_bench replay --trace=traces/pytorch-gpt-train.csv.gz   a recorded workload\n"
      "  scripts/bench --plot --json=run.json       run, then one chart per suite (run-*.png)";
  return text;
}

void declare_run_options(CLI::App& app, bench_options& options) {
  app.add_option_function<std::string>(
         "--backend",
         [&options](const std::string& name) {
           options.backend = name == "cuda"   ? backend_request::cuda
                             : name == "host" ? backend_request::host
                                              : backend_request::automatic;
         },
         described("where to allocate. auto (default): the GPU when the CUDA driver and a "
                   "VMM-capable device are there, else the host backend; the report says which "
                   "and why"))
      ->type_name("auto|cuda|host")
      ->check(CLI::IsMember({"auto", "cuda", "host"}).description(""));
  app.add_flag("--list", options.list, described("list the suites, one per line, and exit"));
  app.add_flag("--quick", options.quick,
               described("smoke run: few sizes, repetitions and operations; seconds on a "
                         "2-core machine. Its numbers show that everything works, not how fast"));
  app.add_option_function<std::vector<std::size_t>>(
         "--sizes", [&options](const std::vector<std::size_t>& sizes) { options.sizes = sizes; },
         described("latency sizes, comma-separated, binary units: 2MiB,64MiB,1GiB (default: "
                   "256 B, 1 MiB, then 2 MiB to 1 GiB by doubling; --quick: 256B,1MiB,64MiB)"))
      ->type_name("LIST")
      ->delimiter(',')
      ->transform(byte_size(1, "the smallest allocation"));
  app.add_option_function<std::size_t>(
         "--reps", [&options](std::size_t n) { options.repetitions = n; },
         described("repetitions per measurement, after the warm-up (default: latency 50, churn "
                   "and growth 5, streams and threads 10; --quick: 5, 3, 3, 3, 3)"))
      ->type_name("N")
      ->check(whole_number())
      ->check(between(1, largest_count));
  app.add_option_function<std::size_t>(
         "--warmup", [&options](std::size_t n) { options.warmup = n; },
         described("excluded runs before each measurement (default 3 for latency, 1 otherwise; "
                   "--quick: 1)"))
      ->type_name("N")
      ->check(whole_number())
      ->check(between(0, largest_count));
  app.add_option_function<std::vector<std::size_t>>(
         "--grow-to",
         [&options](const std::vector<std::size_t>& sizes) { options.grow_to = sizes; },
         described("growth: final buffer sizes, comma-separated; one row per method and size "
                   "(default: F/16, F/4 and F, where F is 8GiB on the GPU, 1GiB on the host "
                   "and 64MiB with --quick)"))
      ->type_name("LIST")
      ->delimiter(',')
      ->transform(byte_size(2 * mib, "the size every growth starts from"));
  app.add_option_function<std::size_t>(
         "--ops", [&options](std::size_t n) { options.churn_operations = n; },
         described("churn: random operations in the trace (default 10000; --quick: 1000)"))
      ->type_name("N")
      ->check(whole_number())
      ->check(between(1, largest_count));
  app.add_option_function<std::size_t>(
         "--slots", [&options](std::size_t n) { options.churn_slots = n; },
         described("churn: most allocations live at once (default 64)"))
      ->type_name("N")
      ->check(whole_number())
      ->check(between(1, largest_count));
  app.add_option_function<std::uint64_t>(
         "--seed", [&options](std::uint64_t n) { options.seed = n; },
         described("churn: seed of the trace (default 42; the same seed gives the same trace)"))
      ->type_name("N")
      ->check(whole_number());
  app.add_option("--trace", options.traces,
                 described("replay: a recorded allocation trace, RMM's logging_resource_adaptor "
                           "CSV, plain or gzip (traces/pytorch-gpt-train.csv.gz); repeat it for "
                           "several. The replay suite runs only when one is given"))
      ->type_name("FILE")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->check(CLI::Validator(CLI::ExistingFile).description(""));
  app.add_option("--host-granularity", options.host_granularity,
                 described("host backend: allocation granularity, a power of two and a multiple "
                           "of the page size (default 2MiB, like an H100, so that rounding costs "
                           "what it costs on the GPU)"))
      ->type_name("SIZE")
      ->transform(byte_size(1, "the smallest granularity"))
      ->check(host_granularity());  // checks run after transforms: it sees the bytes
  app.add_option("--json", options.json_path,
                 described("also write the report as JSON to FILE (input of compare and of "
                           "bench/reports/plot_report.py)"))
      ->type_name("FILE");
  app.add_option("--csv", options.csv_path,
                 described("also write the rows as CSV to FILE, one line per row"))
      ->type_name("FILE");
  app.add_flag(
      "--no-progress", [&options](std::int64_t) { options.progress = false; },
      described("no progress line on stderr (it is only drawn on a terminal anyway)"));
  std::string suite_names;
  for (const suite_entry& suite : suite_catalog()) {
    suite_names += (suite_names.empty() ? "" : ", ") + std::string(suite.name);
  }
  app.add_option("suite", options.suites, described("suites to run: " + suite_names))
      ->type_name("");
}

void declare_compare(CLI::App& app, compare_request& request) {
  CLI::App* compare = app.add_subcommand(
      "compare", described("compare two reports (--json) row by row: the medians before and after, "
                           "their ratio, and whether the change is beyond the runs' spread"));
  compare->footer("\n" +
                  wrapped("Rows match by suite, method and size. A change is beyond the spread "
                          "when the two runs' 10th-90th percentile ranges do not overlap: the new "
                          "p10 above the old p90 (slower) or the new p90 below the old p10 "
                          "(faster). Exit status: 0 when at least one row matched, 1 when none "
                          "did or a file is not a report, 2 for a bad command line.",
                          prose_width, 0, 0));
  compare->add_option("OLD", request.old_path, "the report before the change")
      ->required()
      ->check(CLI::ExistingFile);
  compare->add_option("NEW", request.new_path, "the report after it")
      ->required()
      ->check(CLI::ExistingFile);
}

// --trace is read by the replay suite alone, and that suite needs one.
void check_traces_wanted(const bench_options& options) {
  const bool replay_named =
      std::find(options.suites.begin(), options.suites.end(), "replay") != options.suites.end();
  if (replay_named && options.traces.empty()) {
    throw usage_error(
        "replay needs a trace: --trace=FILE (RMM's log CSV, e.g. "
        "traces/pytorch-gpt-train.csv.gz)");
  }
  if (!options.traces.empty() && !options.suites.empty() && !replay_named) {
    throw usage_error(
        "--trace is read by the replay suite only: name it (vmm_pmr_bench replay "
        "--trace=FILE), or name no suite to run them all");
  }
}

}  // namespace

bench_options parse_command_line(int argc, const char* const* argv) {
  bench_options options;
  options.command_line = "vmm_pmr_bench";
  for (int i = 1; i < argc; ++i) options.command_line += " " + shell_quoted(argv[i]);

  CLI::App app(wrapped(description, prose_width, 0, 0), "vmm_pmr_bench");
  app.get_formatter()->column_width(30);
  app.footer(footer());
  declare_run_options(app, options);
  compare_request compare;
  declare_compare(app, compare);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    options.help = app.help();  // the subcommand's, after "compare --help"
    return options;
  } catch (const CLI::ParseError& failure) {
    throw usage_error(failure.what());
  }
  if (app.got_subcommand("compare")) {
    if (!options.suites.empty()) {
      throw usage_error(
          fmt::format("compare takes two reports, not suites ('{}')", options.suites.front()));
    }
    options.compare = compare;
  }
  check_traces_wanted(options);
  return options;
}

}  // namespace vmm_pmr::bench
