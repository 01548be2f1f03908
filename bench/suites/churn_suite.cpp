// The churn suite: every method replays the same seeded random trace (churn_trace.hpp).
//
// Time per operation = the replay's time / its operations (allocations and frees alike).
// Fragmentation = peak memory the method held / peak bytes the trace had live: for the
// VMM methods peak mapped bytes, which counts the rounding of every request up to the
// granularity (a 256 B request maps 2 MiB on an H100); for cudaMallocAsync the pool's
// reserved-memory high watermark, read from the driver. Methods whose footprint cannot be
// read honestly (cudaMalloc, malloc) get no fragmentation rather than a guess.
//
// stream_ordered_resource has two rows: unbounded, and with footprint_limit set as a user
// would to stay within the fragmentation target. Each keeps its cache across replays, as
// a pool does: its peak is over every replay, warm-up included, and so are the mappings
// it makes (new chunks, and alias ranges for the bounded row), which it reports per timed
// replay (the median) and for the warm-up. A separate replay on a fresh resource with the
// row's options measures what trim() gives back: the random part of the trace, then
// trim(), then what stays mapped against the live blocks rounded up to the resource's
// smallest chunk (the target: what vmm_resource would map for them).
//
// For the chart, each method that can say what it holds replays the trace once more, on
// a fresh resource and untimed, with its footprint sampled (churn_footprint.hpp): the
// report's "memory_held" series, beside the bytes the trace has live.
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "suites/suite.hpp"
#include "vmm_pmr/core/byte_size.hpp"
#include "vmm_pmr/registry/mapping_registry.hpp"
#include "vmm_pmr/resource/vmm_resource.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"
#include "workloads/churn_footprint.hpp"
#include "workloads/churn_trace.hpp"
#include "workloads/cuda_runtime.hpp"
#include "workloads/raw_sequence.hpp"

namespace vmm_pmr::bench {
namespace {

constexpr double microseconds_per_second = 1e6;
constexpr std::size_t mib = std::size_t{1} << 20;

// The targets of the stream_ordered rows (set for the H100).
constexpr double fragmentation_target = 1.10;        // peak mapped / peak live
constexpr double time_target_of_malloc_async = 0.2;  // per op, × cudaMallocAsync's

// The bounded row's footprint_limit: what a user would set to keep the footprint within
// fragmentation_target × peak live, since the pool rounds its bound up to a chunk.
constexpr double bounded_footprint_limit = 1.09;

// stream_ordered_options::min_chunk_size as the resource resolves it (0: 2 MiB, rounded
// up to the granularity): the smallest chunk it maps, and with footprint_limit set the
// size of every chunk.
std::size_t smallest_chunk_size(const stream_ordered_resource& resource) {
  const std::size_t requested =
      resource.options().min_chunk_size != 0 ? resource.options().min_chunk_size : 2 * mib;
  return round_up(requested, resource.granularity()).value_or(requested);
}

std::string_view met_or_missed(bool met) { return met ? "met" : "missed"; }

metric fragmentation(double peak_held, const churn_trace& trace) {
  return {"fragmentation", "peak/live", metric_kind::factor,
          peak_held / static_cast<double>(trace.peak_live_bytes)};
}

struct after_trim {
  std::size_t live_bytes = 0;
  std::size_t mapped_bytes = 0;
  std::size_t largest_chunk = 0;
  std::size_t chunks = 0;
  std::size_t smallest_chunk = 0;  // the resource's; see smallest_chunk_size()
  // The target for mapped_bytes: Σ over the live blocks of each one's bytes rounded up to
  // smallest_chunk, what vmm_resource would map for the same blocks at that chunk size.
  std::size_t live_rounded_to_chunks = 0;
};

// Replays the trace's random operations (not the final frees) on a fresh resource made
// with `options`, trims, and reports what stays mapped for what is live.
after_trim measure_trim(const std::shared_ptr<backend>& driver,
                        const stream_ordered_options& options, const churn_trace& trace,
                        std::size_t random_operations, stream_view stream) {
  stream_ordered_resource resource(driver, options);
  std::vector<void*> slots(trace.slots, nullptr);
  std::vector<std::size_t> sizes(trace.slots, 0);
  for (std::size_t i = 0; i < random_operations && i < trace.operations.size(); ++i) {
    const trace_operation& op = trace.operations[i];
    if (op.allocate) {
      slots[op.slot] = resource.allocate(op.bytes, stream);
      sizes[op.slot] = op.bytes;
    } else {
      resource.deallocate(slots[op.slot], op.bytes, stream);
      slots[op.slot] = nullptr;
    }
  }
  resource.trim();
  after_trim result;
  const stream_ordered_stats stats = resource.stats();
  result.live_bytes = stats.live_bytes;
  result.mapped_bytes = stats.mapped_bytes;
  for (const allocation_info& chunk : mapping_registry::global().live(&resource)) {
    if (chunk.aliased) continue;  // an alias range: memory the chunks hold
    result.largest_chunk = std::max(result.largest_chunk, chunk.mapped_bytes);
    ++result.chunks;
  }
  result.smallest_chunk = smallest_chunk_size(resource);
  for (std::size_t slot = 0; slot < slots.size(); ++slot) {
    if (slots[slot] == nullptr) continue;
    result.live_rounded_to_chunks +=
        round_up(sizes[slot], result.smallest_chunk).value_or(sizes[slot]);
    resource.deallocate(slots[slot], sizes[slot], stream);
  }
  return result;
}

metric peak_held(double bytes) { return {"peak_bytes", "peak held", metric_kind::bytes, bytes}; }

// Replays `trace` through allocate(bytes) -> T and release(T, bytes), `replays` times.
template <typename Allocate, typename Release>
auto trace_replayer(const churn_trace& trace, Allocate allocate, Release release) {
  using held_type = decltype(allocate(std::size_t{}));
  return [&trace, allocate, release](std::size_t replays) mutable {
    std::vector<held_type> slots(trace.slots);
    for (std::size_t r = 0; r < replays; ++r) {
      for (const trace_operation& op : trace.operations) {
        if (op.allocate) {
          slots[op.slot] = allocate(op.bytes);
        } else {
          release(slots[op.slot], op.bytes);
        }
      }
    }
  };
}

// Chunks a pool mapped: new ones, and chunks mapped again in alias ranges. Each is one map
// and one access grant, the costly part of growth on a GPU.
std::uint64_t chunk_mappings(const stream_ordered_stats& stats) {
  return stats.chunks_mapped + stats.alias_chunks_mapped;
}

// A stream_ordered_resource's method: replays on `stream`, then `finish_replay` (on the
// GPU: waits for the stream, as cudaMallocAsync's row does), both timed. Appends the chunk
// mappings each run made to `mappings_per_run` (warm-up runs first).
timed_method pooled_replayer(const churn_trace& trace, stream_ordered_resource& pool,
                             stream_view stream, const std::function<void()>& finish_replay,
                             std::vector<std::uint64_t>& mappings_per_run) {
  return [replay = trace_replayer(
              trace, [&pool, stream](std::size_t bytes) { return pool.allocate(bytes, stream); },
              [&pool, stream](void* pointer, std::size_t bytes) {
                pool.deallocate(pointer, bytes, stream);
              }),
          &finish_replay, &pool, &mappings_per_run](std::size_t replays) mutable {
    const std::uint64_t before = chunk_mappings(pool.stats());
    const double seconds = seconds_to_run([&] {
      replay(replays);
      finish_replay();
    });
    mappings_per_run.push_back(chunk_mappings(pool.stats()) - before);
    return seconds;
  };
}

// The median of the mappings per run after the warm-up, and their sum in the warm-up.
struct mapping_counts {
  double per_timed_replay = 0;
  std::uint64_t in_warmup = 0;
};
mapping_counts count_mappings(const std::vector<std::uint64_t>& per_run, std::size_t warmup) {
  mapping_counts counts;
  std::vector<std::uint64_t> timed;
  for (std::size_t i = 0; i < per_run.size(); ++i) {
    if (i < warmup) {
      counts.in_warmup += per_run[i];
    } else {
      timed.push_back(per_run[i]);
    }
  }
  if (!timed.empty()) {
    std::sort(timed.begin(), timed.end());
    counts.per_timed_replay = static_cast<double>(timed[timed.size() / 2]);
  }
  return counts;
}

std::vector<metric> pooled_metrics(const stream_ordered_stats& stats, const churn_trace& trace,
                                   const after_trim& trimmed, const mapping_counts& mappings) {
  const auto peak = static_cast<double>(stats.peak_mapped_bytes);
  return {
      fragmentation(peak, trace),
      peak_held(peak),
      {"mapped_after_trim", "trimmed", metric_kind::bytes,
       static_cast<double>(trimmed.mapped_bytes)},
      {"live_at_trim", "live then", metric_kind::bytes, static_cast<double>(trimmed.live_bytes)},
      {"live_rounded_to_chunks", "live rounded", metric_kind::bytes,
       static_cast<double>(trimmed.live_rounded_to_chunks)},
      {"chunk_mappings_per_replay", "maps/replay", metric_kind::count, mappings.per_timed_replay},
      {"chunk_mappings_in_warmup", "maps warm-up", metric_kind::count,
       static_cast<double>(mappings.in_warmup)}};
}

// `method`'s median over `other`'s, when both rows are there.
std::optional<double> median_ratio(const std::vector<result_row>& rows, std::string_view method,
                                   std::string_view other) {
  const auto find = [&](std::string_view id) {
    return std::find_if(rows.begin(), rows.end(),
                        [&](const result_row& row) { return row.method == id; });
  };
  const auto numerator = find(method);
  const auto denominator = find(other);
  if (numerator == rows.end() || denominator == rows.end() || !(denominator->time.median > 0)) {
    return std::nullopt;
  }
  return numerator->time.median / denominator->time.median;
}

constexpr std::size_t footprint_windows_per_line = 256;

std::string label_of(const suite_result& result, std::string_view method) {
  for (const result_row& row : result.rows) {
    if (row.method == method) return row.label;
  }
  return std::string(method);
}

// The memory_held series without the CUDA runtime's row: the trace's live bytes, and
// vmm_resource and both stream_ordered rows, each on a fresh resource.
sampled_series memory_held_series(const suite_result& result,
                                  const std::shared_ptr<backend>& driver, const churn_trace& trace,
                                  const stream_ordered_options& pooled_options,
                                  const stream_ordered_options& bounded_options,
                                  stream_view stream) {
  const std::size_t windows = footprint_windows_per_line;
  const footprint_windows live = live_footprint(trace, windows);
  sampled_series series{
      .name = "memory_held",
      .title =
          "memory held over one replay of the trace, each method on a fresh resource "
          "(the most in each window of operations)",
      .x_label = "operations done",
      .y_label = "bytes held",
      .x = live.x(),
      .lines = {live.line("live_bytes", "live (requested)")}};
  {
    vmm_resource resource(driver);
    series.lines.push_back(
        replay_footprint(
            trace, windows, [&](std::size_t bytes) { return resource.allocate(bytes); },
            [&](void* pointer, std::size_t bytes) { resource.deallocate(pointer, bytes); },
            [&] { return resource.stats().live_mapped_bytes; })
            .line("vmm_resource", label_of(result, "vmm_resource")));
  }
  for (const auto& [method, options] : {std::pair{"stream_ordered_resource", &pooled_options},
                                        std::pair{"stream_ordered_bounded", &bounded_options}}) {
    stream_ordered_resource pool(driver, *options);
    series.lines.push_back(
        replay_footprint(
            trace, windows, [&](std::size_t bytes) { return pool.allocate(bytes, stream); },
            [&](void* pointer, std::size_t bytes) { pool.deallocate(pointer, bytes, stream); },
            [&] { return pool.stats().mapped_bytes; })
            .line(method, label_of(result, method)));
  }
  return series;
}

// One stream_ordered row's results against the targets (see the targets note).
std::string pooled_note(std::string_view method, const stream_ordered_stats& stats,
                        const churn_trace& trace, const after_trim& trimmed,
                        std::optional<double> time_of_malloc_async) {
  const double frag =
      static_cast<double>(stats.peak_mapped_bytes) / static_cast<double>(trace.peak_live_bytes);
  std::string note =
      fmt::format("{}: fragmentation {:.3f} ({}), {} chunks mapped in all", method, frag,
                  met_or_missed(frag <= fragmentation_target), stats.chunks_mapped);
  if (time_of_malloc_async) {
    note += fmt::format("; per op {:.3f} × cudaMallocAsync's ({})", *time_of_malloc_async,
                        met_or_missed(*time_of_malloc_async <= time_target_of_malloc_async));
  }
  const double of_target = trimmed.live_rounded_to_chunks == 0
                               ? 0.0
                               : static_cast<double>(trimmed.mapped_bytes) /
                                     static_cast<double>(trimmed.live_rounded_to_chunks);
  note += fmt::format(
      ". After trim(): {} mapped in {} chunks (the largest {}) for {} live; live rounded to "
      "{} chunks {}: mapped {:.2f}× that ({})",
      format_bytes(trimmed.mapped_bytes), trimmed.chunks, format_bytes(trimmed.largest_chunk),
      format_bytes(trimmed.live_bytes), format_bytes(trimmed.smallest_chunk),
      format_bytes(trimmed.live_rounded_to_chunks), of_target,
      met_or_missed(trimmed.mapped_bytes <= trimmed.live_rounded_to_chunks));
  return note;
}

}  // namespace

suite_result run_churn_suite(suite_context& context) {
  const churn_settings& settings = context.settings.churn;
  backend& driver = *context.vmm_backend;
  const churn_trace trace = make_churn_trace(settings.seed, settings.operations, settings.slots,
                                             settings.smallest, settings.largest);
#if VMM_PMR_BENCH_WITH_CUDART
  // Declared before the stream_ordered_resource, whose destructor waits for it.
  std::optional<cudart::stream> stream;
  if (context.runtime_baselines) stream.emplace();
#endif
  stream_view pool_stream;
#if VMM_PMR_BENCH_WITH_CUDART
  if (stream) pool_stream = stream->get();
#endif
  const stream_ordered_options pooled_options;
  stream_ordered_options bounded_options;
  bounded_options.footprint_limit = bounded_footprint_limit;
  stream_ordered_resource pooled(context.vmm_backend, pooled_options);
  stream_ordered_resource bounded(context.vmm_backend, bounded_options);
  std::vector<std::uint64_t> pooled_mappings;
  std::vector<std::uint64_t> bounded_mappings;
  vmm_resource resource(context.vmm_backend);
  raw_sequence raw(driver, detail::resolve_options(vmm_options{}, driver));

  suite_result result;
  result.suite = "churn";
  result.title = "a seeded random allocation trace, replayed by every method";
  result.unit = "us";
  result.per = "op";
  result.size_heading = "size";
  result.baseline_method = "raw_sequence";
  result.baseline_label = "raw backend sequence";
  result.parameters = {
      {"operations",
       fmt::format("{} ({} allocations)", trace.operations.size(), trace.allocations)},
      {"slots", std::to_string(settings.slots)},
      {"seed", std::to_string(settings.seed)},
      {"sizes", fmt::format("{} to {} log-uniform", format_bytes(settings.smallest),
                            format_bytes(settings.largest))},
      {"peak live", format_bytes(trace.peak_live_bytes)},
      {"repetitions", std::to_string(settings.sampling.repetitions)},
      {"warm-up", std::to_string(settings.sampling.warmup)},
  };

  struct churn_method {
    std::string id;
    std::string label;
    timed_method run;
  };
  std::vector<churn_method> methods;
  methods.push_back(
      {"vmm_resource", "vmm_resource",
       timed_whole(trace_replayer(
           trace, [&](std::size_t bytes) { return resource.allocate(bytes); },
           [&](void* pointer, std::size_t bytes) { resource.deallocate(pointer, bytes); }))});
  methods.push_back(
      {"raw_sequence", "raw backend sequence",
       timed_whole(trace_replayer(
           trace, [&](std::size_t bytes) { return raw.allocate(bytes); },
           [&](const raw_allocation& allocation, std::size_t) { raw.deallocate(allocation); }))});
  // Like cudaMallocAsync's row: complete once its stream has caught up, after each replay.
  std::function<void()> finish_replay = [] {};
  if (context.on_gpu)
    finish_replay = [&driver, pool_stream] { driver.synchronize_stream(pool_stream); };
  methods.push_back({"stream_ordered_resource", "stream_ordered_resource (one stream)",
                     pooled_replayer(trace, pooled, pool_stream, finish_replay, pooled_mappings)});
  methods.push_back(
      {"stream_ordered_bounded",
       fmt::format("stream_ordered_resource, footprint_limit {:.2f}", bounded_footprint_limit),
       pooled_replayer(trace, bounded, pool_stream, finish_replay, bounded_mappings)});

#if VMM_PMR_BENCH_WITH_CUDART
  std::optional<cudart::warm_default_pool> pool;
#endif
  if (context.runtime_baselines) {
#if VMM_PMR_BENCH_WITH_CUDART
    pool.emplace(0);
    // Start from an empty pool so the high watermark is this trace's footprint alone.
    pool->trim();
    pool->reset_high_watermarks();
    methods.push_back({"cudaMallocAsync", "cudaMallocAsync/cudaFreeAsync (sync per replay)",
                       [replay = trace_replayer(
                            trace,
                            [&](std::size_t bytes) {
                              void* pointer = nullptr;
                              cudart::check(cudaMallocAsync(&pointer, bytes, stream->get()),
                                            "cudaMallocAsync");
                              return pointer;
                            },
                            [&](void* pointer, std::size_t) {
                              cudart::check(cudaFreeAsync(pointer, stream->get()), "cudaFreeAsync");
                            }),
                        &stream](std::size_t replays) mutable {
                         return seconds_to_run([&] {
                           replay(replays);
                           stream->synchronize();
                         });
                       }});
    methods.push_back(
        {"cudaMalloc", "cudaMalloc/cudaFree",
         timed_whole(trace_replayer(
             trace,
             [](std::size_t bytes) {
               void* pointer = nullptr;
               cudart::check(cudaMalloc(&pointer, bytes), "cudaMalloc");
               return pointer;
             },
             [](void* pointer, std::size_t) { cudart::check(cudaFree(pointer), "cudaFree"); }))});
#endif
  } else if (context.on_gpu) {
    result.notes.push_back(
        "no cudaMalloc/cudaMallocAsync rows: the CUDA runtime is not usable here (see the "
        "header's runtime line)");
  } else {
    methods.push_back({"malloc_free", "malloc/free",
                       timed_whole(trace_replayer(
                           trace,
                           [](std::size_t bytes) {
                             void* pointer = std::malloc(bytes);
                             if (pointer == nullptr) throw std::bad_alloc();
                             keep_observable(pointer);
                             return pointer;
                           },
                           [](void* pointer, std::size_t) { std::free(pointer); }))});
  }

  std::vector<timed_method> timed;
  for (const churn_method& method : methods) timed.push_back(method.run);
  const std::vector<timed_samples> samples =
      sample_interleaved(settings.sampling, timed, [&](std::size_t done, std::size_t total) {
        context.progress.show(result.suite, "trace replays", done, total);
      });

  // One replay is one sample; report per operation.
  const double per_operation =
      microseconds_per_second / static_cast<double>(trace.operations.size());
  for (std::size_t m = 0; m < methods.size(); ++m) {
    result_row row =
        measured_row(methods[m].id, methods[m].label, std::nullopt, samples[m], per_operation);
    row.operations_per_sample = trace.operations.size();
    result.rows.push_back(std::move(row));
  }

  const allocation_stats stats = resource.stats();
  const auto vmm_peak = static_cast<double>(stats.peak_mapped_bytes);
  const stream_ordered_stats pooled_stats = pooled.stats();
  const stream_ordered_stats bounded_stats = bounded.stats();
  const after_trim pooled_trimmed =
      measure_trim(context.vmm_backend, pooled_options, trace, settings.operations, pool_stream);
  const after_trim bounded_trimmed =
      measure_trim(context.vmm_backend, bounded_options, trace, settings.operations, pool_stream);
  const mapping_counts pooled_counts = count_mappings(pooled_mappings, settings.sampling.warmup);
  const mapping_counts bounded_counts = count_mappings(bounded_mappings, settings.sampling.warmup);
  const auto raw_peak = static_cast<double>(
      trace.peak_live_rounded([&](std::size_t bytes) { return raw.rounded(bytes); }));
  for (result_row& row : result.rows) {
    if (row.method == "vmm_resource") {
      row.metrics = {fragmentation(vmm_peak, trace), peak_held(vmm_peak)};
    } else if (row.method == "raw_sequence") {
      row.metrics = {fragmentation(raw_peak, trace), peak_held(raw_peak)};
    } else if (row.method == "stream_ordered_resource") {
      row.metrics = pooled_metrics(pooled_stats, trace, pooled_trimmed, pooled_counts);
    } else if (row.method == "stream_ordered_bounded") {
      row.metrics = pooled_metrics(bounded_stats, trace, bounded_trimmed, bounded_counts);
    }
#if VMM_PMR_BENCH_WITH_CUDART
    if (row.method == "cudaMallocAsync") {
      const auto reserved = static_cast<double>(pool->reserved_high_watermark());
      row.metrics = {fragmentation(reserved, trace), peak_held(reserved)};
    }
#endif
  }
  for (const auto& [method, pooled_peak_live] :
       {std::pair{"stream_ordered_resource", pooled_stats.peak_live_bytes},
        std::pair{"stream_ordered_bounded", bounded_stats.peak_live_bytes}}) {
    if (pooled_peak_live != trace.peak_live_bytes) {
      result.notes.push_back(
          fmt::format("inconsistent: {}'s peak live bytes ({}) differ from the trace's ({})",
                      method, format_bytes(pooled_peak_live), format_bytes(trace.peak_live_bytes)));
    }
  }
  result.notes.push_back(fmt::format(
      "targets of both stream_ordered rows (set for the H100): fragmentation ≤ {:.2f} "
      "(peak over every replay, the cache kept between them); per op ≤ {} × cudaMallocAsync's; "
      "after trim() at the end of the trace's random part, on a fresh resource with the row's "
      "options, mapped ≤ live rounded to chunks = the sum over the live blocks of each one's "
      "bytes rounded up to the resource's smallest chunk, what vmm_resource would map for them "
      "at that chunk size (with 2 MiB chunks, the H100's granularity). Mapped above live is "
      "the free space of chunks that still hold live blocks",
      fragmentation_target, time_target_of_malloc_async));
  result.notes.push_back(
      pooled_note("stream_ordered_resource", pooled_stats, trace, pooled_trimmed,
                  median_ratio(result.rows, "stream_ordered_resource", "cudaMallocAsync")));
  result.notes.push_back(
      pooled_note("stream_ordered_bounded", bounded_stats, trace, bounded_trimmed,
                  median_ratio(result.rows, "stream_ordered_bounded", "cudaMallocAsync")));
  result.notes.push_back(fmt::format(
      "maps/replay: chunks the pool mapped in a timed replay (the median; new chunks, and "
      "chunks mapped again in alias ranges: a map and an access grant each); maps warm-up: in "
      "the {} warm-up replay(s). stream_ordered_bounded now holds {} alias range(s) mapping {} "
      "({} made, {} reused whole, {} retired)",
      settings.sampling.warmup, bounded_stats.alias_ranges, format_bytes(bounded_stats.alias_bytes),
      bounded_stats.alias_ranges_made, bounded_stats.alias_reuses,
      bounded_stats.alias_ranges_retired));
  if (stats.peak_bytes != trace.peak_live_bytes) {
    result.notes.push_back(fmt::format(
        "inconsistent: vmm_resource's peak live bytes ({}) differ from the trace's ({})",
        format_bytes(stats.peak_bytes), format_bytes(trace.peak_live_bytes)));
  }
  result.compute_ratios();
  result.notes.push_back(
      "fragmentation = peak memory held / peak bytes live in the trace; the VMM rows count "
      "the rounding of every request up to the granularity");
  if (context.runtime_baselines) {
    result.notes.push_back(
        "cudaMallocAsync: default pool, release threshold UINT64_MAX, emptied before the first "
        "replay; its peak is the pool's reserved-memory high watermark");
  }

  result.series.push_back(memory_held_series(result, context.vmm_backend, trace, pooled_options,
                                             bounded_options, pool_stream));
#if VMM_PMR_BENCH_WITH_CUDART
  // Last, after its high watermark was read: the pool, emptied, replays the trace once.
  if (pool) {
    pool->trim();
    result.series.back().lines.push_back(
        replay_footprint(
            trace, footprint_windows_per_line,
            [&](std::size_t bytes) {
              void* pointer = nullptr;
              cudart::check(cudaMallocAsync(&pointer, bytes, stream->get()), "cudaMallocAsync");
              return pointer;
            },
            [&](void* pointer, std::size_t) {
              cudart::check(cudaFreeAsync(pointer, stream->get()), "cudaFreeAsync");
            },
            [&] { return pool->reserved_now(); })
            .line("cudaMallocAsync", label_of(result, "cudaMallocAsync")));
    stream->synchronize();
  }
#endif
  return result;
}

}  // namespace vmm_pmr::bench
