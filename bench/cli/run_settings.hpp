// The parameters of one run, resolved from the command line and the backend.
//
// Defaults depend on --quick and on where the run happens (a GPU grows a buffer to up to
// 8 GiB, a CPU machine to up to 1 GiB); an explicit option always wins. The settings are
// printed in every report so that a number can be reproduced.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cli/bench_options.hpp"
#include "suites/sampling.hpp"

namespace vmm_pmr::bench {

struct latency_settings {
  std::vector<std::size_t> sizes;
  sampling_plan sampling;
};

struct churn_settings {
  std::size_t operations = 0;
  std::size_t slots = 0;
  std::uint64_t seed = 0;
  std::size_t smallest = 0;
  std::size_t largest = 0;
  sampling_plan sampling;  // one operation = one replay of the whole trace
};

// The streams suite: `streams` host threads, each allocating and freeing on CUDA streams
// (its own, or a different one each time) with a short kernel in flight on the GPU.
struct streams_settings {
  std::size_t streams = 0;
  std::vector<std::size_t> sizes;        // cycled through, one per pair
  std::size_t pairs_per_operation = 0;   // per thread; one sampled operation
  std::uint64_t kernel_nanoseconds = 0;  // the spin kernel launched between allocate and free
  sampling_plan sampling;
};

// The threads suite: pairs of each size from each number of threads at once.
struct threads_settings {
  std::vector<std::size_t> thread_counts;  // ascending, starting at 1
  std::vector<std::size_t> sizes;
  std::size_t pairs_per_operation = 0;  // per thread; one sampled operation
  sampling_plan sampling;
};

struct growth_settings {
  std::size_t initial_size = 0;
  std::vector<std::size_t> final_sizes;  // ascending; the suite runs once for each
  std::size_t final_size = 0;            // the one the suite is running for
  sampling_plan sampling;                // one operation = one whole growth
};

// The replay suite: recorded traces, each replayed by every allocator.
struct replay_settings {
  std::vector<std::string> traces;  // paths, as given
  sampling_plan sampling;           // one operation = one replay; the cold one comes first
};

struct run_settings {
  bool quick = false;
  latency_settings latency;
  churn_settings churn;
  growth_settings growth;
  streams_settings streams;
  threads_settings threads;
  replay_settings replay;
};

run_settings resolve_run_settings(const bench_options& options, bool on_gpu);

}  // namespace vmm_pmr::bench
