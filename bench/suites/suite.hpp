// The suites vmm_pmr_bench knows: each one's name, what it measures (for --help and
// --list) and the function that runs it.
//
// A suite measures its methods and its baselines in the same process, on the same
// backend, one after the other, and returns rows; it never prints. A suite listed with
// `run == nullptr` is not available yet, and --help and --list say so.
#pragma once

#include <memory>
#include <span>
#include <string_view>

#include "cli/run_settings.hpp"
#include "reports/progress_line.hpp"
#include "reports/report.hpp"
#include "vmm_pmr/backend/backend.hpp"

namespace vmm_pmr::bench {

struct suite_context {
  std::shared_ptr<vmm_pmr::backend> vmm_backend;
  bool on_gpu = false;  // the cuda backend
  // On the GPU, whether the CUDA runtime rows (cudaMalloc, cudaMallocAsync) can run; when
  // not, a suite notes their absence (the header says why).
  bool runtime_baselines = false;
  const run_settings& settings;
  progress_line& progress;
};

struct suite_entry {
  std::string_view name;
  std::string_view summary;                       // one line, for --list
  std::string_view description;                   // for --help: what a row measures, against what
  suite_result (*run)(suite_context&) = nullptr;  // nullptr: not available yet
  // Runs only on traces given with --trace; a run of every suite leaves it out without.
  bool needs_traces = false;
};

std::span<const suite_entry> suite_catalog();
const suite_entry* find_suite(std::string_view name);

suite_result run_latency_suite(suite_context& context);
suite_result run_churn_suite(suite_context& context);
suite_result run_growth_suite(suite_context& context);  // at settings.growth.final_size
suite_result run_growth_sizes(suite_context& context);  // at each of its final_sizes
suite_result run_streams_suite(suite_context& context);
suite_result run_threads_suite(suite_context& context);
suite_result run_replay_suite(suite_context& context);  // on settings.replay.traces

}  // namespace vmm_pmr::bench
