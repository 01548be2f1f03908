// Timed samples of several methods, interleaved: warm-up runs first and excluded, then
// repetition by repetition one sample of each method in turn, so that a drift in the
// machine's state (clocks, driver caches, another process) hits every method alike
// instead of biasing whichever ran last. Each repetition runs the methods in a fresh
// order, shuffled with a fixed seed, so that no method always runs right after the same
// other one and inherits the work it left behind (a driver's deferred frees, a pool's
// memory). A plain rotation would not do that: it keeps every method's predecessor. Seen
// on the H100: with rotation, vmm_resource (always run right after the cudaMallocAsync
// rows) measured 1.08-1.25 x the same driver calls at 128 MiB-1 GiB; shuffled, 1.00-1.03.
//
// An operation may be far shorter than the clock resolves well (malloc/free of a cached
// block, cudaMallocAsync from a warm pool: tens of nanoseconds to a microsecond), so a
// sample runs a batch of operations sized from the method's fastest warm-up run to last
// at least `min_sample_time`, and reports the time per operation; slow operations (a
// driver call of a millisecond) stay at one per sample. A method times itself and
// returns the seconds its operations took, after any GPU work they started has
// completed; that lets it leave set-up and tear-down outside the measurement.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <span>
#include <vector>

namespace vmm_pmr::bench {

struct sampling_plan {
  std::size_t warmup = 1;
  std::size_t repetitions = 5;
  // 0: one operation per sample, whatever it costs.
  std::chrono::nanoseconds min_sample_time{0};
  std::size_t max_operations_per_sample = 1;
};

struct timed_samples {
  std::vector<double> seconds_per_operation;  // one per repetition
  std::size_t operations_per_sample = 1;
};

// Performs `operations` operations and returns the seconds they took.
using timed_method = std::function<double(std::size_t operations)>;

// Makes `pointer` observable, so that the compiler cannot drop an allocate/free pair whose
// result is otherwise unused (optimisers delete a malloc+free pair nobody looks at).
inline void* volatile observed_pointer = nullptr;
inline void keep_observable(void* pointer) { observed_pointer = pointer; }

template <typename Work>
double seconds_to_run(Work&& work) {
  const auto start = std::chrono::steady_clock::now();
  work();
  const auto stop = std::chrono::steady_clock::now();
  return std::chrono::duration<double>(stop - start).count();
}

// A timed_method for operations that have nothing to leave out of the measurement.
// `run(n)` performs n operations and returns once they have completed.
template <typename Run>
timed_method timed_whole(Run run) {
  return [run = std::move(run)](std::size_t operations) mutable {
    return seconds_to_run([&] { run(operations); });
  };
}

// Called before each run, warm-ups included: (runs done, runs in all).
using sampling_progress = std::function<void(std::size_t done, std::size_t total)>;

inline std::vector<timed_samples> sample_interleaved(const sampling_plan& plan,
                                                     std::span<const timed_method> methods,
                                                     const sampling_progress& progress = {}) {
  const std::size_t total = methods.size() * (plan.warmup + plan.repetitions);
  std::size_t done = 0;
  const auto report = [&] {
    if (progress) progress(done++, total);
  };
  std::vector<timed_samples> results(methods.size());
  for (std::size_t m = 0; m < methods.size(); ++m) {
    double fastest_warmup = std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < plan.warmup; ++i) {
      report();
      fastest_warmup = std::min(fastest_warmup, methods[m](1));
    }
    // Without a warm-up there is nothing to calibrate on: one operation per sample.
    if (plan.warmup > 0 && plan.min_sample_time.count() > 0 && fastest_warmup > 0) {
      const double wanted = std::chrono::duration<double>(plan.min_sample_time).count();
      results[m].operations_per_sample =
          static_cast<std::size_t>(std::clamp(std::ceil(wanted / fastest_warmup), 1.0,
                                              static_cast<double>(plan.max_operations_per_sample)));
    }
    results[m].seconds_per_operation.reserve(plan.repetitions);
  }
  std::vector<std::size_t> order(methods.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::mt19937 shuffler(20261125);  // fixed: the same run makes the same orders
  for (std::size_t i = 0; i < plan.repetitions; ++i) {
    std::shuffle(order.begin(), order.end(), shuffler);
    for (const std::size_t m : order) {
      const std::size_t operations = results[m].operations_per_sample;
      report();
      results[m].seconds_per_operation.push_back(methods[m](operations) /
                                                 static_cast<double>(operations));
    }
  }
  return results;
}

}  // namespace vmm_pmr::bench
