// Quantiles and summaries; see statistics.hpp.
#include "reports/statistics.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <stdexcept>

namespace vmm_pmr::bench {

double quantile_of_sorted(std::span<const double> values, double q) {
  assert(!values.empty() && q >= 0 && q <= 1);
  const double position = q * static_cast<double>(values.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(position));
  const std::size_t above = std::min(below + 1, values.size() - 1);
  const double weight = position - static_cast<double>(below);
  return values[below] + weight * (values[above] - values[below]);
}

sample_summary summarize(std::vector<double> values) {
  if (values.empty()) throw std::invalid_argument("summarize: no samples");
  if (!std::all_of(values.begin(), values.end(), [](double v) { return std::isfinite(v); })) {
    throw std::invalid_argument("summarize: a sample is not a finite number");
  }
  std::sort(values.begin(), values.end());
  return {.median = quantile_of_sorted(values, 0.5),
          .p10 = quantile_of_sorted(values, 0.1),
          .p90 = quantile_of_sorted(values, 0.9),
          .min = values.front(),
          .max = values.back(),
          .samples = values.size()};
}

sample_summary scaled(const sample_summary& summary, double factor) {
  return {.median = summary.median * factor,
          .p10 = summary.p10 * factor,
          .p90 = summary.p90 * factor,
          .min = summary.min * factor,
          .max = summary.max * factor,
          .samples = summary.samples};
}

}  // namespace vmm_pmr::bench
