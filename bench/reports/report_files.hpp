// The report for machines: JSON (everything: header, settings, rows, notes, sampled
// series) and CSV (one line per row, with the backend and device on every line so that
// files from several machines can be concatenated and still be told apart).
//
// Neither format may carry a NaN or an infinity: JSON has no spelling for them and a
// spreadsheet would read them as text. The statistics refuse non-finite samples, and the
// writers write `null` / an empty cell for anything that is not a finite number.
#pragma once

#include <ostream>
#include <vector>

#include "cli/run_settings.hpp"
#include "reports/environment.hpp"
#include "reports/report.hpp"

namespace vmm_pmr::bench {

void write_json_report(std::ostream& out, const environment& facts, const run_settings& settings,
                       const std::vector<suite_result>& suites);
void write_csv_report(std::ostream& out, const environment& facts,
                      const std::vector<suite_result>& suites);

}  // namespace vmm_pmr::bench
