// The churn suite: every method replays the same seeded random trace (churn_trace.hpp).
//
// Time per operation = the replay's time / its operations (allocations and frees alike).
// Fragmentation = peak memory the method held / peak bytes the trace had live: for the
// VMM methods peak mapped bytes, which counts the rounding of every request up to the
// granularity (a 256 B request maps 2 MiB on an H100); for cudaMallocAsync the pool's
// reserved-memory high watermark, read from the driver. Methods whose footprint cannot be
// read honestly (cudaMalloc, malloc) get no fragmentation rather than a guess.
//
// stream_ordered_resource keeps its cache across replays, as a pool does: its peak is over
// every replay, warm-up included. A separate replay on a fresh resource measures what
// trim() gives back: the random part of the trace, then trim(), then mapped vs live.
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "churn_trace.hpp"
#include "cuda_runtime.hpp"
#include "raw_sequence.hpp"
#include "suite.hpp"
#include "vmm_pmr/byte_size.hpp"
#include "vmm_pmr/mapping_registry.hpp"
#include "vmm_pmr/stream_ordered_resource.hpp"
#include "vmm_pmr/vmm_resource.hpp"

namespace vmm_pmr::bench {
namespace {

constexpr double microseconds_per_second = 1e6;

metric fragmentation(double peak_held, const churn_trace& trace) {
  return {"fragmentation", "peak/live", metric_kind::factor,
          peak_held / static_cast<double>(trace.peak_live_bytes)};
}

struct after_trim {
  std::size_t live_bytes = 0;
  std::size_t mapped_bytes = 0;
  std::size_t largest_chunk = 0;
  std::size_t chunks = 0;
};

// Replays the trace's random operations (not the final frees) on a fresh resource, trims,
// and reports what stays mapped for what is live.
after_trim measure_trim(const std::shared_ptr<backend>& driver, const churn_trace& trace,
                        std::size_t random_operations, stream_view stream) {
  stream_ordered_resource resource(driver);
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
    result.largest_chunk = std::max(result.largest_chunk, chunk.mapped_bytes);
    ++result.chunks;
  }
  for (std::size_t slot = 0; slot < slots.size(); ++slot) {
    if (slots[slot] != nullptr) resource.deallocate(slots[slot], sizes[slot], stream);
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
  stream_ordered_resource pooled(context.vmm_backend);
  vmm_resource resource(context.vmm_backend);
  raw_sequence raw(driver, resolve_options(vmm_options{}, driver));

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
  methods.push_back(
      {"stream_ordered_resource", "stream_ordered_resource (one stream)",
       [replay = trace_replayer(
            trace, [&](std::size_t bytes) { return pooled.allocate(bytes, pool_stream); },
            [&](void* pointer, std::size_t bytes) {
              pooled.deallocate(pointer, bytes, pool_stream);
            }),
        &finish_replay](std::size_t replays) mutable {
         return seconds_to_run([&] {
           replay(replays);
           finish_replay();
         });
       }});

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
  const auto pooled_peak = static_cast<double>(pooled_stats.peak_mapped_bytes);
  const after_trim trimmed =
      measure_trim(context.vmm_backend, trace, settings.operations, pool_stream);
  const auto raw_peak = static_cast<double>(
      trace.peak_live_rounded([&](std::size_t bytes) { return raw.rounded(bytes); }));
  for (result_row& row : result.rows) {
    if (row.method == "vmm_resource") {
      row.metrics = {fragmentation(vmm_peak, trace), peak_held(vmm_peak)};
    } else if (row.method == "raw_sequence") {
      row.metrics = {fragmentation(raw_peak, trace), peak_held(raw_peak)};
    } else if (row.method == "stream_ordered_resource") {
      row.metrics = {fragmentation(pooled_peak, trace),
                     peak_held(pooled_peak),
                     {"mapped_after_trim", "trimmed", metric_kind::bytes,
                      static_cast<double>(trimmed.mapped_bytes)},
                     {"live_at_trim", "live then", metric_kind::bytes,
                      static_cast<double>(trimmed.live_bytes)}};
    }
#if VMM_PMR_BENCH_WITH_CUDART
    if (row.method == "cudaMallocAsync") {
      const auto reserved = static_cast<double>(pool->reserved_high_watermark());
      row.metrics = {fragmentation(reserved, trace), peak_held(reserved)};
    }
#endif
  }
  if (pooled_stats.peak_live_bytes != trace.peak_live_bytes) {
    result.notes.push_back(fmt::format(
        "inconsistent: stream_ordered_resource's peak live bytes ({}) differ from the trace's ({})",
        format_bytes(pooled_stats.peak_live_bytes), format_bytes(trace.peak_live_bytes)));
  }
  result.notes.push_back(fmt::format(
      "stream_ordered_resource: fragmentation {:.3f} (target ≤ 1.10, set for the H100; peak over "
      "every replay, the cache kept between them); {} chunks mapped in all. After the trace's "
      "random part on a fresh resource, trim() left {} mapped for {} live ({:.2f}×) in {} chunks, "
      "the largest {}: the excess is the free space of chunks that still hold live blocks "
      "(target: mapped ≤ live rounded up to the chunk size)",
      pooled_peak / static_cast<double>(trace.peak_live_bytes), pooled_stats.chunks_mapped,
      format_bytes(trimmed.mapped_bytes), format_bytes(trimmed.live_bytes),
      trimmed.live_bytes == 0
          ? 0.0
          : static_cast<double>(trimmed.mapped_bytes) / static_cast<double>(trimmed.live_bytes),
      trimmed.chunks, format_bytes(trimmed.largest_chunk)));
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
  return result;
}

}  // namespace vmm_pmr::bench
