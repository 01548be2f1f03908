// The streams suite: several host threads, each allocating and freeing on CUDA streams
// while kernels run, the way a multi-stream program does.
//
// Each thread repeats: allocate (sizes cycled from the settings) on a stream, launch a
// short spin kernel on that stream (GPU, when the spin kernel is built), free on the
// same stream. "own stream" rows give each thread one stream; "rotating" rows move every
// thread to the next stream at each pair, so blocks freed on one stream are soon wanted
// on another and the stream-ordered resource hands them over through events. Every
// thread synchronises the streams it used before the sample ends.
//
// Unit: µs of wall time per pair in each thread, so perfect scaling across threads reads
// as the single-thread cost, and serialization (a lock held too long, a driver call on
// the hot path) as growth. Baseline: cudaMallocAsync on the GPU, malloc/free on the host
// (which has no streams: there the stream-ordered rows show the lock and bookkeeping).
#include <fmt/format.h>

#include <cstdlib>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <vector>

#include "suites/suite.hpp"
#include "suites/threads_at_once.hpp"
#include "vmm_pmr/core/byte_size.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"
#include "workloads/cuda_runtime.hpp"
#include "workloads/gpu_kernels.hpp"

namespace vmm_pmr::bench {
namespace {

// One pair's work for thread `thread` at step `step`: allocate, optionally launch, free.
using pair_work = std::function<void(std::size_t thread, std::size_t step, stream_view stream,
                                     std::size_t bytes)>;

struct streams_method {
  std::string id;
  std::string label;
  bool rotating = false;
  pair_work work;
};

// Runs `pairs` pairs on each of the threads at once and returns the wall time, from the
// moment all threads are ready to the moment the last one has synchronised its streams.
double run_threads(const streams_settings& settings, const std::vector<stream_view>& streams,
                   const streams_method& method, std::size_t pairs,
                   const std::function<void(stream_view)>& synchronize) {
  return time_threads_at_once(
      streams.size(),
      [&](std::size_t t) {
        for (std::size_t i = 0; i < pairs; ++i) {
          const stream_view stream = streams[method.rotating ? (t + i) % streams.size() : t];
          method.work(t, i, stream, settings.sizes[(t + i) % settings.sizes.size()]);
        }
        if (method.rotating) {
          for (stream_view stream : streams) synchronize(stream);
        } else {
          synchronize(streams[t]);
        }
      },
      "streams suite: " + method.id);
}

std::string joined_sizes(const std::vector<std::size_t>& sizes) {
  std::string text;
  for (std::size_t size : sizes) text += (text.empty() ? "" : ", ") + format_bytes(size);
  return text;
}

pair_work stream_ordered_pairs(stream_ordered_resource& resource,
                               const std::function<void(stream_view)>& launch) {
  return [&resource, launch](std::size_t, std::size_t, stream_view stream, std::size_t bytes) {
    void* pointer = resource.allocate(bytes, stream);
    launch(stream);
    resource.deallocate(pointer, bytes, stream);
  };
}

}  // namespace

suite_result run_streams_suite(suite_context& context) {
  const streams_settings& settings = context.settings.streams;
  backend& driver = *context.vmm_backend;

  suite_result result;
  result.suite = "streams";
  result.title = "threads allocating and freeing on streams with kernels in flight";
  result.unit = "us";
  result.per = "pair per thread";
  result.size_heading = "size";
  result.parameters = {
      {"threads and streams", std::to_string(settings.streams)},
      {"sizes", joined_sizes(settings.sizes)},
      {"pairs per sample per thread",
       fmt::format("{} × the calibrated count", settings.pairs_per_operation)},
      {"repetitions", std::to_string(settings.sampling.repetitions)},
  };

  // Streams first: they must outlive the resource, whose destructor waits for them.
  std::vector<stream_view> streams;
#if VMM_PMR_BENCH_WITH_CUDART
  std::vector<std::unique_ptr<cudart::stream>> owned_streams;
  std::optional<cudart::warm_default_pool> pool;
#endif
  bool kernels_launched = false;
  std::function<void(stream_view)> launch = [](stream_view) {};
  std::function<void(stream_view)> synchronize = [](stream_view) {};
  if (context.runtime_baselines) {
#if VMM_PMR_BENCH_WITH_CUDART
    for (std::size_t i = 0; i < settings.streams; ++i) {
      owned_streams.push_back(std::make_unique<cudart::stream>());
      streams.push_back(owned_streams.back()->get());
    }
    synchronize = [](stream_view stream) {
      cudart::check(cudaStreamSynchronize(stream.get()), "cudaStreamSynchronize");
    };
    if constexpr (kernels::built_in) {
      const std::uint64_t nanoseconds = settings.kernel_nanoseconds;
      launch = [nanoseconds](stream_view stream) { kernels::spin(stream.get(), nanoseconds); };
      kernels_launched = true;
    }
#endif
  } else {
    // Without the runtime, streams are names: distinct per thread, never dereferenced
    // (on the GPU the legacy and per-thread default streams would be the only real ones).
    for (std::size_t i = 0; i < settings.streams; ++i) {
      streams.push_back(stream_view(reinterpret_cast<CUstream_st*>(0x1000 * (i + 1))));
    }
    if (context.on_gpu) {
      streams.assign(settings.streams, stream_view::per_thread_default());
      synchronize = [&driver](stream_view stream) { driver.synchronize_stream(stream); };
    }
  }

  stream_ordered_resource resource(context.vmm_backend);
  std::vector<streams_method> methods = {
      {"stream_ordered_resource", "stream_ordered_resource (own stream)", false,
       stream_ordered_pairs(resource, launch)},
      {"stream_ordered_resource_rotating", "stream_ordered_resource (rotating streams)", true,
       stream_ordered_pairs(resource, launch)},
  };
  if (context.runtime_baselines) {
#if VMM_PMR_BENCH_WITH_CUDART
    pool.emplace(0);
    const pair_work driver_pool = [launch](std::size_t, std::size_t, stream_view stream,
                                           std::size_t bytes) {
      void* pointer = nullptr;
      cudart::check(cudaMallocAsync(&pointer, bytes, stream.get()), "cudaMallocAsync");
      launch(stream);
      cudart::check(cudaFreeAsync(pointer, stream.get()), "cudaFreeAsync");
    };
    methods.push_back(
        {"cudaMallocAsync", "cudaMallocAsync/cudaFreeAsync (own stream)", false, driver_pool});
    methods.push_back({"cudaMallocAsync_rotating",
                       "cudaMallocAsync/cudaFreeAsync (rotating streams)", true, driver_pool});
    result.baseline_method = "cudaMallocAsync";
    result.baseline_label = "cudaMallocAsync/cudaFreeAsync (own stream)";
#endif
  } else if (!context.on_gpu) {
    const pair_work heap = [](std::size_t, std::size_t, stream_view, std::size_t bytes) {
      void* pointer = std::malloc(bytes);
      if (pointer == nullptr) throw std::bad_alloc();
      keep_observable(pointer);
      std::free(pointer);
    };
    methods.push_back({"malloc_free", "malloc/free (no streams)", false, heap});
    result.baseline_method = "malloc_free";
    result.baseline_label = "malloc/free";
  } else {
    result.baseline_method = "stream_ordered_resource";
    result.baseline_label = "stream_ordered_resource (own stream)";
    result.notes.push_back(
        "no cudaMallocAsync rows: the CUDA runtime is not usable here (see the header's runtime "
        "line); all threads use the per-thread default stream and no kernel runs");
  }

  std::vector<timed_method> timed;
  for (const streams_method& method : methods) {
    timed.push_back([&, method](std::size_t operations) {
      return run_threads(settings, streams, method, operations * settings.pairs_per_operation,
                         synchronize);
    });
  }
  const std::vector<timed_samples> samples =
      sample_interleaved(settings.sampling, timed, [&](std::size_t done, std::size_t total) {
        context.progress.show(result.suite, "threads", done, total);
      });
  const double per_pair = 1e6 / static_cast<double>(settings.pairs_per_operation);
  for (std::size_t m = 0; m < methods.size(); ++m) {
    result_row row =
        measured_row(methods[m].id, methods[m].label, std::nullopt, samples[m], per_pair);
    row.operations_per_sample = samples[m].operations_per_sample * settings.pairs_per_operation;
    result.rows.push_back(std::move(row));
  }
  result.compute_ratios();

  const stream_ordered_stats stats = resource.stats();
  result.notes.push_back(fmt::format(
      "stream_ordered_resource served {} allocations: {} from the stream's own cache, {} "
      "settled, {} from streams whose work had completed, {} after a stream wait ({} waits), "
      "{} by growing; peak mapped {}",
      stats.allocations, stats.same_stream_reuses, stats.settled_reuses,
      stats.completed_stream_reuses, stats.waited_stream_reuses, stats.stream_waits,
      stats.grown_allocations, format_bytes(stats.peak_mapped_bytes)));
  if (context.on_gpu) {
    result.notes.push_back(
        kernels_launched
            ? fmt::format("a {} ns spin kernel runs on the stream between allocate and free",
                          settings.kernel_nanoseconds)
            : "no kernels in flight: the spin kernel needs nvcc at build time");
    result.notes.push_back(
        "target: no serialization cudaMallocAsync does not have, i.e. ratios near or "
        "below 1");
  } else {
    result.notes.push_back(
        "host backend: streams are names and events complete at once, so no kernel runs; the "
        "rows show the cost of the lock and the bookkeeping with every thread at once");
  }
  return result;
}

}  // namespace vmm_pmr::bench
