// Command-line parsing and --help; see bench_options.hpp.
//
// Options are table-driven: each entry has its name, whether it takes a value, a
// placeholder and a help line, and the function that stores it. --help is printed from
// the same table, so an option cannot exist without its explanation.
#include "bench_options.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <functional>
#include <string_view>

#include "size_argument.hpp"
#include "suite.hpp"
#include "vmm_pmr/byte_size.hpp"

namespace vmm_pmr::bench {
namespace {

struct option_spec {
  std::string_view name;         // without the leading "--"
  std::string_view placeholder;  // empty: a flag without a value
  std::string_view help;
  std::function<void(bench_options&, std::string_view)> store;
};

constexpr std::uint64_t max_count = std::uint64_t{1} << 40;

std::size_t count_at_least(std::string_view text, std::uint64_t minimum) {
  return static_cast<std::size_t>(parse_count(text, minimum, max_count));
}

const std::vector<option_spec>& option_table() {
  static const std::vector<option_spec> table = {
      {"backend", "auto|cuda|host",
       "where to allocate. auto (default): the GPU when the CUDA driver and a VMM-capable "
       "device are there, else the host backend; the report says which and why",
       [](bench_options& o, std::string_view v) {
         if (v == "auto") {
           o.backend = backend_request::automatic;
         } else if (v == "cuda") {
           o.backend = backend_request::cuda;
         } else if (v == "host") {
           o.backend = backend_request::host;
         } else {
           throw std::invalid_argument(fmt::format("'{}' is not a backend: auto, cuda or host", v));
         }
       }},
      {"list", "", "list the suites, one per line, and exit",
       [](bench_options& o, std::string_view) { o.list = true; }},
      {"quick", "",
       "smoke run: few sizes, repetitions and operations; seconds on a 2-core machine. Its "
       "numbers show that everything works, not how fast",
       [](bench_options& o, std::string_view) { o.quick = true; }},
      {"sizes", "LIST",
       "latency sizes, comma-separated, binary units: 2MiB,64MiB,1GiB (default: 256 B, 1 MiB, "
       "then 2 MiB to 1 GiB by doubling; --quick: 256B,1MiB,64MiB)",
       [](bench_options& o, std::string_view v) { o.sizes = parse_byte_size_list(v); }},
      {"reps", "N",
       "repetitions per measurement, after the warm-up (default: latency 50, churn and "
       "growth 5, streams 10; --quick: 5, 3, 3, 3)",
       [](bench_options& o, std::string_view v) { o.repetitions = count_at_least(v, 1); }},
      {"warmup", "N",
       "excluded runs before each measurement (default 3 for latency, 1 otherwise; --quick: 1)",
       [](bench_options& o, std::string_view v) { o.warmup = count_at_least(v, 0); }},
      {"grow-to", "SIZE",
       "growth: final buffer size (default 8GiB on the GPU, 1GiB on the host; --quick: 64MiB)",
       [](bench_options& o, std::string_view v) {
         const std::size_t size = parse_byte_size(v);
         if (size < (std::size_t{2} << 20)) {
           throw std::invalid_argument(fmt::format(
               "{} is below 2 MiB, the size every growth starts from", format_bytes(size)));
         }
         o.grow_to = size;
       }},
      {"ops", "N", "churn: random operations in the trace (default 10000; --quick: 1000)",
       [](bench_options& o, std::string_view v) { o.churn_operations = count_at_least(v, 1); }},
      {"slots", "N", "churn: most allocations live at once (default 64)",
       [](bench_options& o, std::string_view v) { o.churn_slots = count_at_least(v, 1); }},
      {"seed", "N", "churn: seed of the trace (default 42; the same seed gives the same trace)",
       [](bench_options& o, std::string_view v) { o.seed = parse_count(v, 0, ~std::uint64_t{0}); }},
      {"host-granularity", "SIZE",
       "host backend: allocation granularity, a power of two and a multiple of the page size "
       "(default 2MiB, like an H100, so that rounding costs what it costs on the GPU)",
       [](bench_options& o, std::string_view v) {
         const std::size_t granularity = parse_byte_size(v);
         const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
         if (!is_power_of_two(granularity) || granularity % page != 0) {
           throw std::invalid_argument(
               fmt::format("{} is not a power of two multiple of the page size ({})",
                           format_bytes(granularity), format_bytes(page)));
         }
         o.host_granularity = granularity;
       }},
      {"json", "FILE", "also write the report as JSON to FILE",
       [](bench_options& o, std::string_view v) { o.json_path = v; }},
      {"csv", "FILE", "also write the rows as CSV to FILE (input of bench/plot_csv)",
       [](bench_options& o, std::string_view v) { o.csv_path = v; }},
      {"no-progress", "", "no progress line on stderr (it is only drawn on a terminal anyway)",
       [](bench_options& o, std::string_view) { o.progress = false; }},
      {"help", "", "this text", [](bench_options& o, std::string_view) { o.help = true; }},
  };
  return table;
}

const option_spec* find_option(std::string_view name) {
  const auto& table = option_table();
  const auto found = std::find_if(table.begin(), table.end(),
                                  [&](const option_spec& spec) { return spec.name == name; });
  return found == table.end() ? nullptr : &*found;
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

// The words of `text`, a unit kept with its number ("2 MiB" never breaks across lines).
std::vector<std::string> words_of(std::string_view text) {
  static constexpr std::array<std::string_view, 7> units = {"B",   "KiB", "MiB", "GiB",
                                                            "TiB", "µs",  "ms"};
  std::vector<std::string> words;
  while (!text.empty()) {
    const std::size_t space = text.find(' ');
    const std::string_view word = text.substr(0, space);
    const bool is_unit = std::find(units.begin(), units.end(), word) != units.end();
    if (is_unit && !words.empty()) {
      words.back() += " " + std::string(word);
    } else if (!word.empty()) {
      words.emplace_back(word);
    }
    if (space == std::string_view::npos) break;
    text.remove_prefix(space + 1);
  }
  return words;
}

// Wraps `text` at `width` columns, every line indented by `indent` spaces.
std::string wrapped(std::string_view text, std::size_t indent, std::size_t width) {
  std::string out;
  std::size_t column = 0;
  for (const std::string& word : words_of(text)) {
    if (column > indent && column + 1 + word.size() > width) {
      out += '\n';
      column = 0;
    }
    if (column == 0) {
      out.append(indent, ' ');
      column = indent;
    } else {
      out += ' ';
      ++column;
    }
    out += word;
    column += word.size();
  }
  return out;
}

}  // namespace

bench_options parse_command_line(int argc, const char* const* argv) {
  bench_options options;
  options.command_line = "vmm_pmr_bench";
  for (int i = 1; i < argc; ++i) options.command_line += " " + shell_quoted(argv[i]);

  bool only_positional = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view argument = argv[i];
    if (only_positional || !argument.starts_with("-") || argument == "-") {
      options.suites.emplace_back(argument);
      continue;
    }
    if (argument == "--") {
      only_positional = true;
      continue;
    }
    if (argument == "-h") {
      options.help = true;
      continue;
    }
    if (!argument.starts_with("--")) {
      throw usage_error(fmt::format("unknown option '{}'", argument));
    }
    const std::string_view body = argument.substr(2);
    const std::size_t equals = body.find('=');
    const std::string_view name = body.substr(0, equals);
    const option_spec* spec = find_option(name);
    if (spec == nullptr) throw usage_error(fmt::format("unknown option '--{}'", name));

    std::string_view value;
    if (spec->placeholder.empty()) {
      if (equals != std::string_view::npos) {
        throw usage_error(fmt::format("--{} takes no value", name));
      }
    } else if (equals != std::string_view::npos) {
      value = body.substr(equals + 1);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      throw usage_error(fmt::format("--{} needs a value: --{}={}", name, name, spec->placeholder));
    }
    try {
      spec->store(options, value);
    } catch (const std::invalid_argument& failure) {
      throw usage_error(fmt::format("--{}: {}", name, failure.what()));
    }
  }
  return options;
}

std::string help_text() {
  constexpr std::size_t width = 92;
  std::string text =
      "usage: vmm_pmr_bench [options] [suite...]\n"
      "\n"
      "Microbenchmarks of vmm_pmr against the raw driver sequence and the allocators people\n"
      "use instead. Runs the named suites (default: all available) on one backend and prints\n"
      "one table per suite under a header naming the device, driver, backend, build and\n"
      "date. Each number is the median over --reps repetitions, warm-up runs excluded, with\n"
      "the 10th-90th percentile spread; every suite measures its baselines in the same run\n"
      "and reports ratios to them. GPU work is timed after synchronising.\n"
      "\n"
      "suites:\n";
  for (const suite_entry& suite : suite_catalog()) {
    text += fmt::format("  {}{}\n", suite.name, suite.run ? "" : " (not yet available)");
    text += wrapped(suite.description, 4, width) + "\n";
  }
  text += "\noptions:\n";
  for (const option_spec& spec : option_table()) {
    text += spec.placeholder.empty() ? fmt::format("  --{}\n", spec.name)
                                     : fmt::format("  --{}={}\n", spec.name, spec.placeholder);
    text += wrapped(spec.help, 6, width) + "\n";
  }
  text +=
      "\n"
      "exit status: 0 when every suite ran; 1 when one failed or the backend asked for is not\n"
      "usable; 2 for a bad command line.\n"
      "\n"
      "examples:\n"
      "  vmm_pmr_bench --quick                      smoke run of every suite\n"
      "  vmm_pmr_bench latency --sizes=2MiB,1GiB    two sizes only\n"
      "  vmm_pmr_bench --csv=run.csv && bench/plot_csv run.csv run.png\n";
  return text;
}

}  // namespace vmm_pmr::bench
