// Summary statistics over the repetitions of one measurement.
//
// Benchmarks report the median (robust to the odd slow run: a page fault, a context
// switch, a driver hiccup) with the 10th and 90th percentiles as the spread, plus min
// and max. Warm-up runs never reach these functions: the sampler drops them first.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace vmm_pmr::bench {

struct sample_summary {
  double median = 0;
  double p10 = 0;
  double p90 = 0;
  double min = 0;
  double max = 0;
  std::size_t samples = 0;
};

// The q-quantile (0 ≤ q ≤ 1) of sorted, non-empty `values`, interpolated linearly between
// neighbours (the "type 7" estimator of R and NumPy's default), so that the median of an
// even count is the mean of the middle two.
double quantile_of_sorted(std::span<const double> values, double q);

// Throws std::invalid_argument for no samples or a non-finite one: a report must never
// carry a NaN that looks like a number.
sample_summary summarize(std::vector<double> values);

// `summary` with every statistic multiplied by `factor` (a unit change).
sample_summary scaled(const sample_summary& summary, double factor);

}  // namespace vmm_pmr::bench
