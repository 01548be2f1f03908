// The compare command; see compare_reports.hpp.
#include "reports/compare_reports.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "reports/report.hpp"
#include "reports/report_table.hpp"
#include "reports/terminal_text.hpp"
#include "vmm_pmr/core/byte_size.hpp"

namespace vmm_pmr::bench {
namespace {

using json = nlohmann::json;

struct report_row {
  std::string method;
  std::string label;
  std::optional<std::size_t> size_bytes;
  std::optional<std::size_t> threads;
  timing_spread time;
};

struct report_suite {
  std::string name;
  std::string unit;
  std::string per;
  std::vector<report_row> rows;
};

struct report {
  std::string path;
  std::string backend;
  std::string device;
  std::string build_type;
  std::string date;
  std::vector<report_suite> suites;
};

// Method, size, threads and rank among the suite's rows with the same three.
using row_key =
    std::tuple<std::string, std::optional<std::size_t>, std::optional<std::size_t>, std::size_t>;

std::vector<row_key> keys_of(const report_suite& suite) {
  std::vector<row_key> keys;
  std::map<row_key, std::size_t> seen;
  for (const report_row& row : suite.rows) {
    const row_key twin{row.method, row.size_bytes, row.threads, 0};
    keys.emplace_back(row.method, row.size_bytes, row.threads, seen[twin]++);
  }
  return keys;
}

std::optional<std::size_t> optional_count(const json& object, const char* key) {
  if (!object.contains(key) || object.at(key).is_null()) return std::nullopt;
  return object.at(key).get<std::size_t>();
}

report read_report(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw std::runtime_error(fmt::format("cannot read '{}'", path));
  try {
    const json document = json::parse(file);
    if (!document.is_object() || document.value("tool", "") != "vmm_pmr_bench") {
      throw std::runtime_error("no \"tool\": \"vmm_pmr_bench\" at the top");
    }
    const json& environment = document.at("environment");
    report result{.path = path,
                  .backend = environment.value("backend", "?"),
                  .device = environment.value("device", "?"),
                  .build_type = environment.value("build_type", "?"),
                  .date = environment.value("date", "?"),
                  .suites = {}};
    for (const json& suite : document.at("suites")) {
      report_suite entry{.name = suite.at("name").get<std::string>(),
                         .unit = suite.at("unit").get<std::string>(),
                         .per = suite.at("per").get<std::string>(),
                         .rows = {}};
      for (const json& row : suite.at("rows")) {
        entry.rows.push_back({.method = row.at("method").get<std::string>(),
                              .label = row.value("label", row.at("method").get<std::string>()),
                              .size_bytes = optional_count(row, "size_bytes"),
                              .threads = optional_count(row, "threads"),
                              .time = {.median = row.at("median").get<double>(),
                                       .p10 = row.at("p10").get<double>(),
                                       .p90 = row.at("p90").get<double>(),
                                       .samples = row.at("samples").get<std::size_t>()}});
      }
      result.suites.push_back(std::move(entry));
    }
    return result;
  } catch (const json::exception& failure) {
    throw std::runtime_error(
        fmt::format("'{}' is not a vmm_pmr_bench report (--json): {}", path, failure.what()));
  } catch (const std::runtime_error& failure) {
    throw std::runtime_error(
        fmt::format("'{}' is not a vmm_pmr_bench report (--json): {}", path, failure.what()));
  }
}

const report_suite* find_suite(const report& in, const std::string& name) {
  const auto found = std::find_if(in.suites.begin(), in.suites.end(),
                                  [&](const report_suite& suite) { return suite.name == name; });
  return found == in.suites.end() ? nullptr : &*found;
}

std::string row_name(const report_row& row) {
  std::string name = row.method;
  if (row.size_bytes) name += " at " + format_bytes(*row.size_bytes);
  if (row.threads) name += fmt::format(" with {} threads", *row.threads);
  return name;
}

struct tally {
  std::size_t matched = 0;
  std::size_t slower = 0;
  std::size_t faster = 0;
  std::size_t no_spread = 0;
  std::vector<std::string> only_old;
  std::vector<std::string> only_new;
};

void compare_suite(std::FILE* out, const report_suite& before, const report_suite& after,
                   tally& counts) {
  if (before.unit != after.unit || before.per != after.per) {
    fmt::print(out, "\n{}: not compared, the units differ ({} per {} against {} per {})\n",
               before.name, before.unit, before.per, after.unit, after.per);
    return;
  }
  const std::vector<row_key> old_keys = keys_of(before);
  const std::vector<row_key> new_keys = keys_of(after);
  const bool has_sizes = std::any_of(before.rows.begin(), before.rows.end(),
                                     [](const report_row& row) { return row.size_bytes; });
  const bool has_threads = std::any_of(before.rows.begin(), before.rows.end(),
                                       [](const report_row& row) { return row.threads; });
  std::vector<text_column> columns = {{"method", false, {}}};
  if (has_sizes) columns.push_back({"size", true, {}});
  if (has_threads) columns.push_back({"threads", true, {}});
  const std::string unit(unit_symbol(before.unit));
  columns.push_back({"old " + unit, true, {}});
  columns.push_back({"new " + unit, true, {}});
  columns.push_back({"new/old", true, {}});
  columns.push_back({"verdict", false, {}});

  std::vector<bool> group_starts;
  std::optional<std::size_t> previous_size;
  for (std::size_t i = 0; i < before.rows.size(); ++i) {
    const auto match = std::find(new_keys.begin(), new_keys.end(), old_keys[i]);
    if (match == new_keys.end()) {
      counts.only_old.push_back(before.name + "/" + row_name(before.rows[i]));
      continue;
    }
    const report_row& old_row = before.rows[i];
    const report_row& new_row = after.rows[static_cast<std::size_t>(match - new_keys.begin())];
    const spread_verdict verdict = judge_change(old_row.time, new_row.time);
    ++counts.matched;
    counts.slower += verdict == spread_verdict::slower ? 1 : 0;
    counts.faster += verdict == spread_verdict::faster ? 1 : 0;
    counts.no_spread += verdict == spread_verdict::no_spread ? 1 : 0;

    std::size_t c = 0;
    columns[c++].cells.push_back(new_row.label);
    if (has_sizes) {
      columns[c++].cells.push_back(old_row.size_bytes ? format_bytes(*old_row.size_bytes) : "");
    }
    if (has_threads) {
      columns[c++].cells.push_back(old_row.threads ? std::to_string(*old_row.threads) : "");
    }
    columns[c++].cells.push_back(format_measurement(old_row.time.median));
    columns[c++].cells.push_back(format_measurement(new_row.time.median));
    columns[c++].cells.push_back(old_row.time.median > 0
                                     ? format_measurement(new_row.time.median / old_row.time.median)
                                     : "-");
    columns[c++].cells.push_back(std::string(verdict_text(verdict)));
    group_starts.push_back(has_sizes && !group_starts.empty() &&
                           old_row.size_bytes != previous_size);
    previous_size = old_row.size_bytes;
  }
  for (std::size_t i = 0; i < after.rows.size(); ++i) {
    if (std::find(old_keys.begin(), old_keys.end(), new_keys[i]) == old_keys.end()) {
      counts.only_new.push_back(after.name + "/" + row_name(after.rows[i]));
    }
  }
  if (group_starts.empty()) return;

  fmt::print(out, "\n{}: {} per {}, median; verdict from the 10th-90th percentile spreads\n\n",
             before.name, unit, before.per);
  const std::vector<std::string> lines = aligned_lines(columns);
  fmt::print(out, "{}\n", lines.front());
  for (std::size_t r = 1; r < lines.size(); ++r) {
    if (group_starts[r - 1]) fmt::print(out, "\n");
    fmt::print(out, "{}\n", lines[r]);
  }
}

std::string described(const report& in) {
  return fmt::format("{} ({} backend, {}, {} build, {})", in.path, in.backend, in.device,
                     in.build_type, in.date);
}

std::string listed(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

}  // namespace

spread_verdict judge_change(const timing_spread& before, const timing_spread& after) {
  if (before.samples < 2 || after.samples < 2) return spread_verdict::no_spread;
  if (after.p10 > before.p90) return spread_verdict::slower;
  if (after.p90 < before.p10) return spread_verdict::faster;
  return spread_verdict::within;
}

std::string_view verdict_text(spread_verdict verdict) {
  switch (verdict) {
    case spread_verdict::within:
      return "within spread";
    case spread_verdict::slower:
      return "beyond spread (slower)";
    case spread_verdict::faster:
      return "beyond spread (faster)";
    case spread_verdict::no_spread:
      return "no spread (1 sample)";
  }
  return "?";
}

int compare_reports(const compare_request& request, std::FILE* out) {
  const report before = read_report(request.old_path);
  const report after = read_report(request.new_path);
  fmt::print(out, "vmm_pmr_bench compare\n");
  fmt::print(out, "{}\n", wrapped("old: " + described(before), prose_width, 2, 7));
  fmt::print(out, "{}\n", wrapped("new: " + described(after), prose_width, 2, 7));
  if (before.backend != after.backend || before.device != after.device ||
      before.build_type != after.build_type) {
    fmt::print(out, "{}\n",
               wrapped("warning: the reports come from different backends, devices or builds: "
                       "the ratios compare those as much as the code",
                       prose_width, 2, 4));
  }

  tally counts;
  for (const report_suite& suite : before.suites) {
    if (const report_suite* other = find_suite(after, suite.name)) {
      compare_suite(out, suite, *other, counts);
    } else {
      counts.only_old.push_back(suite.name + " (the whole suite)");
    }
  }
  for (const report_suite& suite : after.suites) {
    if (find_suite(before, suite.name) == nullptr) {
      counts.only_new.push_back(suite.name + " (the whole suite)");
    }
  }

  const std::size_t beyond = counts.slower + counts.faster;
  std::string summary = fmt::format(
      "summary: {} rows matched; {} beyond spread ({} slower, {} faster), {} within spread",
      counts.matched, beyond, counts.slower, counts.faster,
      counts.matched - beyond - counts.no_spread);
  if (counts.no_spread > 0) summary += fmt::format(", {} with no spread", counts.no_spread);
  fmt::print(out, "\n{}\n", wrapped(summary, prose_width, 0, 2));
  if (!counts.only_old.empty()) {
    fmt::print(out, "{}\n", wrapped("only in old: " + listed(counts.only_old), prose_width, 0, 2));
  }
  if (!counts.only_new.empty()) {
    fmt::print(out, "{}\n", wrapped("only in new: " + listed(counts.only_new), prose_width, 0, 2));
  }
  if (counts.matched == 0) {
    fmt::print(out, "no row of {} matches one of {}: nothing to compare\n", before.path,
               after.path);
    return 1;
  }
  return 0;
}

}  // namespace vmm_pmr::bench
