// The growth suite at each final size of --grow-to: run_growth_suite once per size, its
// rows joined into one result, so that the report and the chart have time against size.
//
// Every run's ratios are to its own floor at the same size. A note that every run makes
// alike is kept once; the others say which size they belong to.
#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

#include "suites/suite.hpp"
#include "vmm_pmr/core/byte_size.hpp"

namespace vmm_pmr::bench {

suite_result run_growth_sizes(suite_context& context) {
  const std::vector<std::size_t>& sizes = context.settings.growth.final_sizes;
  std::vector<suite_result> runs;
  for (const std::size_t final_size : sizes) {
    run_settings settings = context.settings;
    settings.growth.final_size = final_size;
    suite_context one_size{.vmm_backend = context.vmm_backend,
                           .on_gpu = context.on_gpu,
                           .runtime_baselines = context.runtime_baselines,
                           .settings = settings,
                           .progress = context.progress};
    runs.push_back(run_growth_suite(one_size));
  }
  if (runs.size() == 1) return std::move(runs.front());

  suite_result joined = runs.front();
  joined.rows.clear();
  joined.notes.clear();
  std::string size_list;
  for (const std::size_t size : sizes) {
    size_list += (size_list.empty() ? "" : ", ") + format_bytes(size);
  }
  joined.title = "one buffer grown by doubling, to each final size: " + size_list;
  const auto made_by_every_run = [&](const std::string& note) {
    return std::all_of(runs.begin(), runs.end(), [&](const suite_result& run) {
      return std::find(run.notes.begin(), run.notes.end(), note) != run.notes.end();
    });
  };
  for (const std::string& note : runs.front().notes) {
    if (made_by_every_run(note)) joined.notes.push_back(note);
  }
  for (std::size_t i = 0; i < runs.size(); ++i) {
    joined.rows.insert(joined.rows.end(), runs[i].rows.begin(), runs[i].rows.end());
    for (const std::string& note : runs[i].notes) {
      if (!made_by_every_run(note)) {
        joined.notes.push_back(fmt::format("to {}: {}", format_bytes(sizes[i]), note));
      }
    }
  }
  return joined;
}

}  // namespace vmm_pmr::bench
