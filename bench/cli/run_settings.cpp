// Defaults of a run; see run_settings.hpp.
#include "cli/run_settings.hpp"

#include <algorithm>

namespace vmm_pmr::bench {
namespace {

constexpr std::size_t mib = std::size_t{1} << 20;
constexpr std::size_t gib = std::size_t{1} << 30;

std::vector<std::size_t> doubling_sizes(std::size_t smallest, std::size_t largest) {
  std::vector<std::size_t> sizes;
  for (std::size_t size = smallest; size <= largest; size *= 2) sizes.push_back(size);
  return sizes;
}

sampling_plan whole_runs(std::size_t warmup, std::size_t repetitions) {
  return {.warmup = warmup,
          .repetitions = repetitions,
          .min_sample_time = std::chrono::nanoseconds{0},
          .max_operations_per_sample = 1};
}

}  // namespace

run_settings resolve_run_settings(const bench_options& options, bool on_gpu) {
  const bool quick = options.quick;
  run_settings settings;
  settings.quick = quick;

  // 256 B and 1 MiB are there for stream_ordered_resource's hot pair (its target is set at
  // 256 B, 1 MiB and 64 MiB); every VMM allocation below 2 MiB maps 2 MiB.
  std::vector<std::size_t> full_sizes = {256, mib};
  for (std::size_t size : doubling_sizes(2 * mib, gib)) full_sizes.push_back(size);
  settings.latency.sizes =
      options.sizes.value_or(quick ? std::vector<std::size_t>{256, mib, 64 * mib} : full_sizes);
  // A sample batches enough pairs to last this long, so that nanosecond operations
  // (malloc of a cached block) are not drowned in the clock's own cost.
  settings.latency.sampling = {
      .warmup = options.warmup.value_or(quick ? 1 : 3),
      // 50: on an H100 the raw sequence's own p10-p90 spread is ±5-15% at 64 MiB and up,
      // as wide as the 5% target; fewer samples leave the median's ratio to chance.
      .repetitions = options.repetitions.value_or(quick ? 5 : 50),
      .min_sample_time = quick ? std::chrono::microseconds{200} : std::chrono::microseconds{1000},
      .max_operations_per_sample = 100000};

  settings.churn.operations = options.churn_operations.value_or(quick ? 1000 : 10000);
  settings.churn.slots = options.churn_slots.value_or(64);
  settings.churn.seed = options.seed.value_or(42);
  settings.churn.smallest = 256;
  settings.churn.largest = 64 * mib;
  settings.churn.sampling =
      whole_runs(options.warmup.value_or(1), options.repetitions.value_or(quick ? 3 : 5));

  settings.growth.initial_size = 2 * mib;
  // Three final sizes, a factor of 4 apart, for a chart of time against size.
  const std::size_t largest = quick ? 64 * mib : on_gpu ? 8 * gib : gib;
  std::vector<std::size_t> final_sizes =
      options.grow_to.value_or(std::vector<std::size_t>{largest / 16, largest / 4, largest});
  std::sort(final_sizes.begin(), final_sizes.end());
  final_sizes.erase(std::unique(final_sizes.begin(), final_sizes.end()), final_sizes.end());
  settings.growth.final_sizes = final_sizes;
  settings.growth.final_size = final_sizes.back();
  // 9: a growth's driver calls vary by up to 4x from one run to the next (cuMemCreate on an
  // H100), so five samples could put two identical rows 2x apart. More would cost minutes:
  // the host's std::vector row takes 13 s a sample at 8 GiB.
  settings.growth.sampling =
      whole_runs(options.warmup.value_or(1), options.repetitions.value_or(quick ? 3 : 9));

  settings.streams.streams = 4;
  settings.streams.sizes = {4 << 10, mib, 16 * mib};
  settings.streams.pairs_per_operation = 32;
  settings.streams.kernel_nanoseconds = 2000;
  settings.streams.sampling = {
      .warmup = options.warmup.value_or(1),
      .repetitions = options.repetitions.value_or(quick ? 3 : 10),
      .min_sample_time = quick ? std::chrono::microseconds{2000} : std::chrono::microseconds{20000},
      .max_operations_per_sample = 10000};
  settings.threads.thread_counts =
      quick ? std::vector<std::size_t>{1, 2, 4} : std::vector<std::size_t>{1, 2, 4, 8, 16};
  settings.threads.sizes =
      quick ? std::vector<std::size_t>{256} : std::vector<std::size_t>{256, mib};
  settings.threads.pairs_per_operation = 32;
  // Timed like the streams suite: threads started together, samples of pairs per thread.
  settings.threads.sampling = settings.streams.sampling;
  settings.replay.traces = options.traces;
  // No warm-up by default: the cold replay, reported apart, already warmed the instance.
  settings.replay.sampling =
      whole_runs(options.warmup.value_or(0), options.repetitions.value_or(quick ? 2 : 3));
  return settings;
}

}  // namespace vmm_pmr::bench
