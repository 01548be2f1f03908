// Terminal output; see report_table.hpp.
//
// Columns are sized to their widest cell, text left-aligned and numbers right-aligned,
// so a table stays readable when pasted into an issue or a README. Widths count code
// points, not bytes: "µs" is two columns wide, not three.
#include "report_table.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "vmm_pmr/byte_size.hpp"

namespace vmm_pmr::bench {
namespace {

std::size_t display_width(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;  // not a UTF-8 continuation byte
  }));
}

std::string padded(std::string_view text, std::size_t width, bool right_aligned) {
  const std::string padding(width - std::min(width, display_width(text)), ' ');
  return right_aligned ? padding + std::string(text) : std::string(text) + padding;
}

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

struct column {
  std::string heading;
  bool right_aligned = true;
  std::vector<std::string> cells;
};

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
  for (const auto& [name, value] : facts.lines()) fmt::print(out, "  {:<8} {}\n", name, value);
}

void print_suite_table(std::FILE* out, const suite_result& suite) {
  const std::string unit = std::string(unit_symbol(suite.unit));
  fmt::print(out, "\n{}: {}\n", suite.suite, suite.title);
  std::string parameters;
  for (const auto& [name, value] : suite.parameters) {
    parameters += fmt::format("{}{} {}", parameters.empty() ? "" : ", ", name, value);
  }
  if (!parameters.empty()) fmt::print(out, "  {}\n", parameters);
  fmt::print(out, "  {} per {}: median and 10th-90th percentile; ratio: median / {}'s\n\n", unit,
             suite.per, suite.baseline_label);

  const bool has_sizes =
      std::any_of(suite.rows.begin(), suite.rows.end(),
                  [](const result_row& row) { return row.size_bytes.has_value(); });
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

  std::vector<column> columns;
  columns.push_back({"method", false, {}});
  if (has_sizes) columns.push_back({suite.size_heading, true, {}});
  columns.push_back({"median " + unit, true, {}});
  columns.push_back({"p10", true, {}});
  columns.push_back({"p90", true, {}});
  columns.push_back({"ratio", true, {}});
  for (const std::string& heading : metric_headings) columns.push_back({heading, true, {}});

  for (const result_row& row : suite.rows) {
    std::size_t c = 0;
    columns[c++].cells.push_back(row.label);
    if (has_sizes)
      columns[c++].cells.push_back(row.size_bytes ? format_bytes(*row.size_bytes) : "");
    columns[c++].cells.push_back(format_measurement(row.time.median));
    columns[c++].cells.push_back(format_measurement(row.time.p10));
    columns[c++].cells.push_back(format_measurement(row.time.p90));
    columns[c++].cells.push_back(row.ratio ? format_measurement(*row.ratio) : "");
    for (const std::string& key : metric_keys) {
      const metric* value = row.find_metric(key);
      columns[c++].cells.push_back(value ? format_metric(*value) : "-");
    }
  }

  std::vector<std::size_t> widths;
  for (const column& col : columns) {
    std::size_t width = display_width(col.heading);
    for (const std::string& cell : col.cells) width = std::max(width, display_width(cell));
    widths.push_back(width);
  }
  const auto print_line = [&](auto&& cell_of) {
    std::string line = " ";
    for (std::size_t c = 0; c < columns.size(); ++c) {
      line += "  " + padded(cell_of(c), widths[c], columns[c].right_aligned);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    fmt::print(out, "{}\n", line);
  };
  print_line([&](std::size_t c) -> std::string_view { return columns[c].heading; });
  for (std::size_t r = 0; r < suite.rows.size(); ++r) {
    // A blank line between sizes groups each size's methods together.
    if (has_sizes && r > 0 && suite.rows[r].size_bytes != suite.rows[r - 1].size_bytes) {
      fmt::print(out, "\n");
    }
    print_line([&](std::size_t c) -> std::string_view { return columns[c].cells[r]; });
  }
  if (!suite.notes.empty()) fmt::print(out, "\n");
  for (const std::string& note : suite.notes) fmt::print(out, "  note: {}\n", note);
}

}  // namespace vmm_pmr::bench
