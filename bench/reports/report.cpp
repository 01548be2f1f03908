// Ratios and lookups on the result rows; see report.hpp.
#include "reports/report.hpp"

#include <algorithm>

namespace vmm_pmr::bench {

const metric* result_row::find_metric(std::string_view key) const {
  const auto found =
      std::find_if(metrics.begin(), metrics.end(), [&](const metric& m) { return m.key == key; });
  return found == metrics.end() ? nullptr : &*found;
}

void suite_result::compute_ratios() {
  for (result_row& row : rows) {
    const auto baseline = std::find_if(rows.begin(), rows.end(), [&](const result_row& other) {
      return other.method == baseline_method && other.size_bytes == row.size_bytes &&
             other.threads == row.threads;
    });
    // A zero baseline cannot happen with a real clock; if it does, no ratio beats a wrong one.
    if (baseline != rows.end() && baseline->time.median > 0) {
      row.ratio = row.time.median / baseline->time.median;
    }
  }
}

result_row measured_row(std::string method, std::string label, std::optional<std::size_t> size,
                        const timed_samples& samples, double seconds_to_unit) {
  result_row row;
  row.method = std::move(method);
  row.label = std::move(label);
  row.size_bytes = size;
  row.time = scaled(summarize(samples.seconds_per_operation), seconds_to_unit);
  row.operations_per_sample = samples.operations_per_sample;
  return row;
}

std::string_view unit_symbol(std::string_view unit) { return unit == "us" ? "µs" : unit; }

}  // namespace vmm_pmr::bench
