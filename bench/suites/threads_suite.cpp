// The threads suite: how the allocators scale with host threads calling them at once.
//
// For each size and each thread count, every thread allocates and frees pairs of that
// size back to back, no kernels, either each on a stream of its own ("own stream") or all
// on one stream ("shared stream"). A row's time is the wall time per pair in each thread,
// so a resource that scales keeps its one-thread time as threads are added; the row also
// carries the pairs per second of all threads together and the scaling: that throughput
// over N times the same method's one-thread throughput (1 is perfect, the target 0.75).
// Baseline: cudaMallocAsync on its own streams on the GPU, malloc/free on the host (which
// has no streams: there the pool's rows show its locking and bookkeeping).
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <vector>

#include "suites/suite.hpp"
#include "suites/threads_at_once.hpp"
#include "vmm_pmr/core/byte_size.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"
#include "workloads/cuda_runtime.hpp"

namespace vmm_pmr::bench {
namespace {

using pair_function = std::function<void(stream_view stream, std::size_t bytes)>;

struct threads_method {
  std::string id;
  std::string label;
  bool shared_stream = false;
  pair_function pair;
};

// Runs `pairs` pairs in each of `thread_count` threads at once; the wall time from the
// moment all threads are ready to the moment the last has synchronised its stream.
double run_threads(std::size_t thread_count, std::size_t pairs, std::size_t bytes,
                   const std::vector<stream_view>& own_streams, stream_view shared_stream,
                   const threads_method& method,
                   const std::function<void(stream_view)>& synchronize) {
  return time_threads_at_once(
      thread_count,
      [&](std::size_t t) {
        const stream_view stream = method.shared_stream ? shared_stream : own_streams[t];
        for (std::size_t i = 0; i < pairs; ++i) method.pair(stream, bytes);
        synchronize(stream);
      },
      fmt::format("threads suite: {} with {} threads", method.id, thread_count));
}

pair_function stream_ordered_pairs(stream_ordered_resource& resource) {
  return [&resource](stream_view stream, std::size_t bytes) {
    void* pointer = resource.allocate(bytes, stream);
    keep_observable(pointer);
    resource.deallocate(pointer, bytes, stream);
  };
}

std::string joined(const std::vector<std::size_t>& counts) {
  std::string text;
  for (std::size_t count : counts) text += (text.empty() ? "" : ", ") + std::to_string(count);
  return text;
}

// Adds each row's throughput (pairs per second, all threads) and scaling (that over N
// times the one-thread throughput of the same method and size).
void add_throughput(std::vector<result_row>& rows) {
  std::map<std::pair<std::string, std::optional<std::size_t>>, double> one_thread;
  const auto pairs_per_second = [](const result_row& row) {
    return static_cast<double>(*row.threads) * 1e6 / row.time.median;
  };
  for (const result_row& row : rows) {
    if (row.threads == 1u && row.time.median > 0) {
      one_thread[{row.method, row.size_bytes}] = pairs_per_second(row);
    }
  }
  for (result_row& row : rows) {
    if (!(row.time.median > 0)) continue;
    const double throughput = pairs_per_second(row);
    row.metrics.push_back({"pairs_per_second", "pairs/s", metric_kind::count, throughput});
    const auto base = one_thread.find({row.method, row.size_bytes});
    if (base != one_thread.end()) {
      row.metrics.push_back({"scaling", "scaling", metric_kind::factor,
                             throughput / (static_cast<double>(*row.threads) * base->second)});
    }
  }
}

}  // namespace

suite_result run_threads_suite(suite_context& context) {
  const threads_settings& settings = context.settings.threads;
  backend& driver = *context.vmm_backend;
  const std::size_t most_threads =
      *std::max_element(settings.thread_counts.begin(), settings.thread_counts.end());

  suite_result result;
  result.suite = "threads";
  result.title = "allocate+free pairs from many threads at once, own or shared stream";
  result.unit = "us";
  result.per = "pair per thread";
  result.size_heading = "size";
  result.parameters = {
      {"threads", joined(settings.thread_counts)},
      {"pairs per sample per thread",
       fmt::format("{} × the calibrated count", settings.pairs_per_operation)},
      {"repetitions", std::to_string(settings.sampling.repetitions)},
  };

  // Streams first: they must outlive the resources, whose destructors wait for them.
  std::vector<stream_view> streams;  // one per thread
  stream_view shared_stream;
#if VMM_PMR_BENCH_WITH_CUDART
  std::vector<std::unique_ptr<cudart::stream>> owned_streams;
  std::optional<cudart::warm_default_pool> pool;
#endif
  std::function<void(stream_view)> synchronize = [](stream_view) {};
  if (context.runtime_baselines) {
#if VMM_PMR_BENCH_WITH_CUDART
    for (std::size_t i = 0; i <= most_threads; ++i) {
      owned_streams.push_back(std::make_unique<cudart::stream>());
      streams.push_back(owned_streams.back()->get());
    }
    shared_stream = streams.back();
    streams.pop_back();
    synchronize = [](stream_view stream) {
      cudart::check(cudaStreamSynchronize(stream.get()), "cudaStreamSynchronize");
    };
#endif
  } else if (context.on_gpu) {
    // Without the runtime the only real streams are the default ones: every thread's own
    // is its per-thread default stream, the shared one the legacy stream.
    streams.assign(most_threads, stream_view::per_thread_default());
    shared_stream = stream_view::legacy_default();
    synchronize = [&driver](stream_view stream) { driver.synchronize_stream(stream); };
  } else {
    // The host backend's streams are names, never dereferenced.
    for (std::size_t i = 0; i <= most_threads; ++i) {
      streams.push_back(stream_view(reinterpret_cast<CUstream_st*>(0x1000 * (i + 1))));
    }
    shared_stream = streams.back();
    streams.pop_back();
  }

  // One resource per pattern, kept across rows: the steady state of a long-lived pool.
  stream_ordered_resource own_resource(context.vmm_backend);
  stream_ordered_resource shared_resource(context.vmm_backend);
  std::vector<threads_method> methods = {
      {"stream_ordered_resource", "stream_ordered_resource (own stream)", false,
       stream_ordered_pairs(own_resource)},
      {"stream_ordered_resource_shared", "stream_ordered_resource (shared stream)", true,
       stream_ordered_pairs(shared_resource)},
  };
  if (context.runtime_baselines) {
#if VMM_PMR_BENCH_WITH_CUDART
    pool.emplace(0);
    const pair_function driver_pool = [](stream_view stream, std::size_t bytes) {
      void* pointer = nullptr;
      cudart::check(cudaMallocAsync(&pointer, bytes, stream.get()), "cudaMallocAsync");
      cudart::check(cudaFreeAsync(pointer, stream.get()), "cudaFreeAsync");
    };
    methods.push_back(
        {"cudaMallocAsync", "cudaMallocAsync/cudaFreeAsync (own stream)", false, driver_pool});
    methods.push_back({"cudaMallocAsync_shared", "cudaMallocAsync/cudaFreeAsync (shared stream)",
                       true, driver_pool});
    result.baseline_method = "cudaMallocAsync";
    result.baseline_label = "cudaMallocAsync/cudaFreeAsync (own stream)";
#endif
  } else if (!context.on_gpu) {
    methods.push_back(
        {"malloc_free", "malloc/free (no streams)", false, [](stream_view, std::size_t bytes) {
           void* pointer = std::malloc(bytes);
           if (pointer == nullptr) throw std::bad_alloc();
           keep_observable(pointer);
           std::free(pointer);
         }});
    result.baseline_method = "malloc_free";
    result.baseline_label = "malloc/free";
  } else {
    result.baseline_method = "stream_ordered_resource";
    result.baseline_label = "stream_ordered_resource (own stream)";
    result.notes.push_back(
        "no cudaMallocAsync rows: the CUDA runtime is not usable here (see the header's runtime "
        "line); own streams are the per-thread default streams, the shared one the legacy "
        "stream");
  }

  // Every (size, threads, method) is one timed method, all interleaved.
  struct row_plan {
    std::size_t bytes;
    std::size_t threads;
    const threads_method* method;
  };
  std::vector<row_plan> plans;
  for (std::size_t bytes : settings.sizes) {
    for (std::size_t threads : settings.thread_counts) {
      for (const threads_method& method : methods) plans.push_back({bytes, threads, &method});
    }
  }
  std::vector<timed_method> timed;
  for (const row_plan& plan : plans) {
    timed.push_back([&, plan](std::size_t operations) {
      return run_threads(plan.threads, operations * settings.pairs_per_operation, plan.bytes,
                         streams, shared_stream, *plan.method, synchronize);
    });
  }
  const std::vector<timed_samples> samples =
      sample_interleaved(settings.sampling, timed, [&](std::size_t done, std::size_t total) {
        context.progress.show(result.suite, "rows", done, total);
      });
  const double per_pair = 1e6 / static_cast<double>(settings.pairs_per_operation);
  for (std::size_t r = 0; r < plans.size(); ++r) {
    result_row row = measured_row(plans[r].method->id, plans[r].method->label, plans[r].bytes,
                                  samples[r], per_pair);
    row.threads = plans[r].threads;
    row.operations_per_sample = samples[r].operations_per_sample * settings.pairs_per_operation;
    result.rows.push_back(std::move(row));
  }
  result.compute_ratios();
  add_throughput(result.rows);

  result.notes.push_back(
      "scaling: pairs per second of all threads over N × the same method's one-thread pairs "
      "per second at that size (1: perfect; target of stream_ordered_resource: ≥ 0.75 up to "
      "16 threads on their own streams, and shared-stream throughput never below one "
      "thread's)");
  if (!context.on_gpu) {
    result.notes.push_back(
        "host backend: streams are names and events complete at once; the rows show the cost "
        "of the locks and the bookkeeping with every thread at once");
  }
  return result;
}

}  // namespace vmm_pmr::bench
