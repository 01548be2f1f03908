// Terminal output; see report_table.hpp.
//
// Columns are sized to their widest cell, text left-aligned and numbers right-aligned.
// A table wider than a terminal (the churn suite's, with its pool metrics) is printed as
// several that share the method column: the times first, then the other measurements.
#include "reports/report_table.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "reports/terminal_text.hpp"
#include "vmm_pmr/core/byte_size.hpp"

namespace vmm_pmr::bench {
namespace {

std::string format_metric(const metric& value) {
  switch (value.kind) {
    case metric_kind::bytes:
      return format_bytes(static_cast<std::size_t>(value.value));
    case metric_kind::factor:
      return fmt::format("{:.2f}", value.value);
    case metric_kind::count:
      return fmt::format("{:.0f}", value.value);
  }
  return {};
}

// The widest line of `columns` laid out.
std::size_t table_display_width(const std::vector<text_column>& columns) {
  std::size_t width = 0;
  for (const std::string& line : aligned_lines(columns))
    width = std::max(width, display_width(line));
  return width;
}

// Prints `columns`, a blank line before each row where `group_starts` is true.
void print_table(std::FILE* out, const std::vector<text_column>& columns,
                 const std::vector<bool>& group_starts) {
  const std::vector<std::string> lines = aligned_lines(columns);
  fmt::print(out, "{}\n", lines.front());
  for (std::size_t r = 1; r < lines.size(); ++r) {
    if (group_starts[r - 1]) fmt::print(out, "\n");
    fmt::print(out, "{}\n", lines[r]);
  }
}

}  // namespace

std::string format_measurement(double value) {
  const double magnitude = std::fabs(value);
  if (magnitude >= 100) return fmt::format("{:.0f}", value);
  if (magnitude >= 10) return fmt::format("{:.1f}", value);
  if (magnitude >= 1) return fmt::format("{:.2f}", value);
  if (magnitude >= 0.001) return fmt::format("{:#.3g}", value);
  return fmt::format("{:.2e}", value);
}

void print_header(std::FILE* out, const environment& facts) {
  fmt::print(out, "vmm_pmr_bench\n");
  // "  backend  host (auto: ...": values wrapped under themselves, 11 columns in.
  constexpr std::size_t value_column = 11;
  for (const auto& [name, value] : facts.lines()) {
    std::string line = wrapped(value, prose_width, value_column, value_column);
    const std::string label = fmt::format("  {:<8} ", name);
    line.replace(0, std::min(label.size(), value_column), label);
    fmt::print(out, "{}\n", line);
  }
}

void print_suite_table(std::FILE* out, const suite_result& suite) {
  const std::string unit = std::string(unit_symbol(suite.unit));
  fmt::print(out, "\n{}: {}\n", suite.suite, suite.title);
  std::string parameters;
  for (const auto& [name, value] : suite.parameters) {
    parameters += fmt::format("{}{} {}", parameters.empty() ? "" : ", ", name, value);
  }
  if (!parameters.empty()) fmt::print(out, "{}\n", wrapped(parameters, prose_width, 2, 4));
  const std::string legend =
      fmt::format("{} per {}: median and 10th-90th percentile; ratio: median / {}'s", unit,
                  suite.per, suite.baseline_label);
  fmt::print(out, "{}\n\n", wrapped(legend, prose_width, 2, 4));

  const bool has_sizes =
      std::any_of(suite.rows.begin(), suite.rows.end(),
                  [](const result_row& row) { return row.size_bytes.has_value(); });
  const bool has_threads =
      std::any_of(suite.rows.begin(), suite.rows.end(),
                  [](const result_row& row) { return row.threads.has_value(); });
  std::vector<std::string> metric_keys;
  std::vector<std::string> metric_headings;
  for (const result_row& row : suite.rows) {
    for (const metric& m : row.metrics) {
      if (std::find(metric_keys.begin(), metric_keys.end(), m.key) == metric_keys.end()) {
        metric_keys.push_back(m.key);
        metric_headings.push_back(m.heading);
      }
    }
  }

  // The row's identity (method, size, threads) starts every table; the times make the first.
  std::vector<text_column> identity;
  identity.push_back({"method", false, {}});
  if (has_sizes) identity.push_back({suite.size_heading, true, {}});
  if (has_threads) identity.push_back({"threads", true, {}});
  std::vector<text_column> times = {
      {"median " + unit, true, {}}, {"p10", true, {}}, {"p90", true, {}}, {"ratio", true, {}}};
  std::vector<text_column> metrics;
  for (const std::string& heading : metric_headings) metrics.push_back({heading, true, {}});

  std::vector<bool> group_starts;
  for (std::size_t r = 0; r < suite.rows.size(); ++r) {
    const result_row& row = suite.rows[r];
    identity[0].cells.push_back(row.label);
    if (has_sizes) identity[1].cells.push_back(row.size_bytes ? format_bytes(*row.size_bytes) : "");
    if (has_threads) {
      identity.back().cells.push_back(row.threads ? std::to_string(*row.threads) : "");
    }
    times[0].cells.push_back(format_measurement(row.time.median));
    times[1].cells.push_back(format_measurement(row.time.p10));
    times[2].cells.push_back(format_measurement(row.time.p90));
    times[3].cells.push_back(row.ratio ? format_measurement(*row.ratio) : "");
    for (std::size_t m = 0; m < metric_keys.size(); ++m) {
      const metric* value = row.find_metric(metric_keys[m]);
      metrics[m].cells.push_back(value ? format_metric(*value) : "-");
    }
    // A blank line between sizes groups each size's methods together.
    group_starts.push_back(has_sizes && r > 0 && row.size_bytes != suite.rows[r - 1].size_bytes);
  }

  std::vector<text_column> table = identity;
  table.insert(table.end(), times.begin(), times.end());
  std::size_t next_metric = 0;
  // The metrics join the times' table, or follow in as many tables as fit the width.
  while (next_metric < metrics.size()) {
    table.push_back(metrics[next_metric]);
    if (table.size() > identity.size() + 1 && table_display_width(table) > table_width) {
      table.pop_back();
      print_table(out, table, group_starts);
      fmt::print(out, "\n");
      table = identity;
      continue;
    }
    ++next_metric;
  }
  print_table(out, table, group_starts);
  if (!suite.notes.empty()) fmt::print(out, "\n");
  for (const std::string& note : suite.notes) {
    fmt::print(out, "{}\n", wrapped("note: " + note, prose_width, 2, 8));
  }
}

}  // namespace vmm_pmr::bench
