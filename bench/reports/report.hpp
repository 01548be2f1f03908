// What a run measured, independent of how it is printed: the rows of each suite.
//
// A row is one method (a stable id for machines, a label for humans) at one size, its
// time summary in the suite's unit, its ratio to the suite's baseline method at the same
// size, and any extra metrics (fragmentation, bytes copied, peak memory); a suite may add
// sampled series for charts (the churn suite's memory held over its trace). The table,
// JSON and CSV writers all read this one structure, so the three outputs cannot disagree.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reports/statistics.hpp"
#include "suites/sampling.hpp"

namespace vmm_pmr::bench {

enum class metric_kind { bytes, factor, count };

struct metric {
  std::string key;      // JSON/CSV field: "fragmentation", "bytes_copied", "peak_bytes"
  std::string heading;  // table column: "frag.", "copied", "peak"
  metric_kind kind = metric_kind::count;
  double value = 0;
};

struct result_row {
  std::string method;  // stable id: "vmm_resource", "raw_sequence", "cudaMalloc", ...
  std::string label;   // for humans, never containing a comma
  std::optional<std::size_t> size_bytes;
  std::optional<std::size_t> threads;  // threads running at once, where a suite varies it
  sample_summary time;                 // in the suite's unit, per operation
  std::size_t operations_per_sample = 1;
  std::optional<double> ratio;  // time.median / the baseline's at the same size
  std::vector<metric> metrics;

  const metric* find_metric(std::string_view key) const;
};

// Values sampled along a run, for a chart: one line per method, all at the same x.
struct sampled_line {
  std::string method;  // a row's method, or a reference such as "live_bytes"
  std::string label;
  std::vector<double> y;  // one per x of the series
};

struct sampled_series {
  std::string name;     // stable id: "memory_held"
  std::string title;    // one line: what the lines show and how they were taken
  std::string x_label;  // axis labels, with units: "operations done", "bytes held"
  std::string y_label;
  std::vector<double> x;
  std::vector<sampled_line> lines;
};

struct suite_result {
  std::string suite;
  std::string title;         // one line: what a row measures
  std::string unit;          // "us" or "ms", per `per`
  std::string per;           // "pair", "op", "growth"
  std::string size_heading;  // "size", "final size"
  std::string baseline_method;
  std::string baseline_label;
  std::vector<std::pair<std::string, std::string>> parameters;  // for the header line
  std::vector<result_row> rows;
  std::vector<std::string> notes;      // printed under the table, kept in the JSON
  std::vector<sampled_series> series;  // in the JSON only

  // Sets every row's ratio to its median over the baseline row's median at the same size.
  void compute_ratios();
};

// A row from timed samples; `seconds_to_unit` converts to the suite's unit (1e6 for µs).
result_row measured_row(std::string method, std::string label, std::optional<std::size_t> size,
                        const timed_samples& samples, double seconds_to_unit);

std::string_view unit_symbol(std::string_view unit);  // "us" -> "µs"

}  // namespace vmm_pmr::bench
