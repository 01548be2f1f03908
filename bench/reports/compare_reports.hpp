// `vmm_pmr_bench compare OLD.json NEW.json`: two reports side by side, row by row, so
// that a change's effect on performance is one command.
//
// Rows match by suite, method and size (and thread count, for rows that carry one); a row
// that a report holds twice (a size given twice) matches the other report's row of the
// same rank. Each match prints the old and the new median, new / old, and a verdict from
// the runs' own spread: beyond it when the two 10th-90th percentile ranges do not overlap
// (the new p10 above the old p90: slower; the new p90 below the old p10: faster), within
// it otherwise. Non-overlapping ranges are a plain rule, not a significance test; with
// the default repetitions they rarely call noise a change. Rows found in one report only
// are listed, not guessed at.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string_view>

#include "cli/bench_options.hpp"

namespace vmm_pmr::bench {

struct timing_spread {
  double median = 0;
  double p10 = 0;
  double p90 = 0;
  std::size_t samples = 0;
};

enum class spread_verdict {
  within,    // the ranges overlap: no change the runs can tell from noise
  slower,    // beyond the spread, the new one slower
  faster,    // beyond the spread, the new one faster
  no_spread  // a run with fewer than 2 samples has no spread to judge by
};

spread_verdict judge_change(const timing_spread& before, const timing_spread& after);
std::string_view verdict_text(spread_verdict verdict);  // "beyond spread (slower)", ...

// Prints the comparison to `out`; returns the exit status: 0 when at least one row
// matched, 1 when none did. Throws std::runtime_error for a file that is not a report.
int compare_reports(const compare_request& request, std::FILE* out);

}  // namespace vmm_pmr::bench
