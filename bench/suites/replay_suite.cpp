// The replay suite: recorded allocation traces (--trace, trace_file.hpp) replayed against
// every allocator, so that the numbers come from real workloads.
//
// A replay keeps the file's order within each recorded thread and never sleeps: one host
// thread per recorded thread, one stream per recorded stream (the bench's own; recorded
// stream 0 is the legacy stream). A free of an allocation another thread makes waits
// (yielding) until that allocation exists. Allocations the trace never frees stay live
// to the end of the replay and are freed after the clock stops.
//
// Each allocator runs alone, on a fresh instance: a cold replay, then the warm-up and the
// timed replays on the same instance (the steady state, a pool keeping its cache), then
// trim() with the trace's last allocations still live. Allocators are not interleaved as
// the other suites' methods are: each holds up to the trace's peak, and five of them at
// once would not fit a GPU. Last, the allocator replays once more on a fresh instance, on
// one thread in file order and untimed, reading what it holds after every event: the
// report's memory_held series, for the chart.
//
// "Held" is what the allocator holds from the device: mapped bytes for the pools, the
// live allocations rounded to the granularity for vmm_resource, the pool's reserved
// memory for cudaMallocAsync, the live bytes for cudaMalloc (whose own rounding cannot be
// read).
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "suites/suite.hpp"
#include "vmm_pmr/core/byte_size.hpp"
#include "vmm_pmr/resource/vmm_resource.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"
#include "vmm_pmr/testing/call_counting_backend.hpp"
#include "workloads/churn_footprint.hpp"
#include "workloads/cuda_runtime.hpp"
#include "workloads/trace_file.hpp"

namespace vmm_pmr::bench {
namespace {

constexpr double microseconds_per_second = 1e6;
constexpr double gib = double(std::size_t{1} << 30);
constexpr std::size_t footprint_windows_per_line = 256;
// The churn suite's bounded row: the footprint_limit a user would set to stay within
// 1.10 × peak live.
constexpr double bounded_footprint_limit = 1.09;

// An allocator under replay, behind one interface so that one replayer drives them all.
class replayed_allocator {
 public:
  virtual ~replayed_allocator() = default;
  virtual void* allocate(std::size_t bytes, stream_view stream) = 0;
  virtual void deallocate(void* pointer, std::size_t bytes, stream_view stream) = 0;
  // Waits for the work a replay left on `stream`; part of the replay's time.
  virtual void synchronize(stream_view) {}
  virtual std::size_t held() const = 0;
  virtual std::size_t peak_held() const = 0;
  // Gives back what it can; returns what it holds then.
  virtual std::size_t trim() { return held(); }
  // The calls that made something, on the allocator's own counting backend.
  virtual std::optional<testing::making_calls> driver_calls() const { return std::nullopt; }
  // Live bytes at the peak, as the allocator counted them (nullopt: it does not).
  virtual std::optional<std::size_t> peak_live() const { return std::nullopt; }
};

class pooled_allocator final : public replayed_allocator {
 public:
  pooled_allocator(const std::shared_ptr<backend>& driver, const stream_ordered_options& options,
                   bool on_gpu)
      : calls_(std::make_shared<testing::call_counting_backend>(driver)),
        pool_(calls_, options),
        on_gpu_(on_gpu) {}
  void* allocate(std::size_t bytes, stream_view stream) override {
    return pool_.allocate(bytes, stream);
  }
  void deallocate(void* pointer, std::size_t bytes, stream_view stream) override {
    pool_.deallocate(pointer, bytes, stream);
  }
  void synchronize(stream_view stream) override {
    if (on_gpu_) calls_->synchronize_stream(stream);
  }
  std::size_t held() const override { return pool_.stats().mapped_bytes; }
  std::size_t peak_held() const override { return pool_.stats().peak_mapped_bytes; }
  std::size_t trim() override {
    pool_.trim();
    return held();
  }
  std::optional<testing::making_calls> driver_calls() const override { return calls_->made(); }
  std::optional<std::size_t> peak_live() const override { return pool_.stats().peak_live_bytes; }

 private:
  std::shared_ptr<testing::call_counting_backend> calls_;
  stream_ordered_resource pool_;
  bool on_gpu_;
};

class vmm_allocator final : public replayed_allocator {
 public:
  explicit vmm_allocator(const std::shared_ptr<backend>& driver)
      : calls_(std::make_shared<testing::call_counting_backend>(driver)), resource_(calls_) {}
  void* allocate(std::size_t bytes, stream_view) override { return resource_.allocate(bytes); }
  void deallocate(void* pointer, std::size_t bytes, stream_view) override {
    resource_.deallocate(pointer, bytes);
  }
  std::size_t held() const override { return resource_.stats().live_mapped_bytes; }
  std::size_t peak_held() const override { return resource_.stats().peak_mapped_bytes; }
  std::optional<testing::making_calls> driver_calls() const override { return calls_->made(); }
  std::optional<std::size_t> peak_live() const override { return resource_.stats().peak_bytes; }

 private:
  std::shared_ptr<testing::call_counting_backend> calls_;
  vmm_resource resource_;
};

#if VMM_PMR_BENCH_WITH_CUDART
// The device's default pool, emptied and its high watermark reset when made, kept warm
// (release threshold UINT64_MAX) like the other suites' cudaMallocAsync rows.
class async_pool_allocator final : public replayed_allocator {
 public:
  async_pool_allocator() : pool_(0) {
    pool_.trim();
    pool_.reset_high_watermarks();
  }
  void* allocate(std::size_t bytes, stream_view stream) override {
    void* pointer = nullptr;
    cudart::check(cudaMallocAsync(&pointer, bytes, stream.get()), "cudaMallocAsync");
    return pointer;
  }
  void deallocate(void* pointer, std::size_t, stream_view stream) override {
    cudart::check(cudaFreeAsync(pointer, stream.get()), "cudaFreeAsync");
  }
  void synchronize(stream_view stream) override {
    cudart::check(cudaStreamSynchronize(stream.get()), "cudaStreamSynchronize");
  }
  std::size_t held() const override { return pool_.reserved_now(); }
  std::size_t peak_held() const override { return pool_.reserved_high_watermark(); }
  std::size_t trim() override {
    pool_.trim();  // cudaMemPoolTrimTo(0), after synchronising the device
    return held();
  }

 private:
  cudart::warm_default_pool pool_;
};

class cuda_malloc_allocator final : public replayed_allocator {
 public:
  void* allocate(std::size_t bytes, stream_view) override {
    void* pointer = nullptr;
    cudart::check(cudaMalloc(&pointer, bytes), "cudaMalloc");
    const std::size_t now = live_.fetch_add(bytes) + bytes;
    std::size_t peak = peak_.load();
    while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
    }
    return pointer;
  }
  void deallocate(void* pointer, std::size_t bytes, stream_view) override {
    cudart::check(cudaFree(pointer), "cudaFree");
    live_ -= bytes;
  }
  std::size_t held() const override { return live_; }
  std::size_t peak_held() const override { return peak_; }

 private:
  std::atomic<std::size_t> live_{0};
  std::atomic<std::size_t> peak_{0};
};
#endif

struct allocator_kind {
  std::string id;
  std::string label;
  std::function<std::unique_ptr<replayed_allocator>()> make;
};

// Replays one trace against an allocator; see the file's header for the rules.
class trace_replayer {
 public:
  trace_replayer(const recorded_trace& trace, std::vector<stream_view> streams)
      : trace_(trace),
        streams_(std::move(streams)),
        events_of_thread_(trace.thread_ids.size()),
        pointers_(std::make_unique<std::atomic<void*>[]>(trace.allocations)),
        allocated_(trace.allocations) {
    for (std::uint32_t i = 0; i < trace.events.size(); ++i) {
      const trace_event& event = trace.events[i];
      events_of_thread_[event.thread].push_back(i);
      if (event.action == trace_action::allocate) allocated_[event.allocation] = i;
    }
  }

  // Replays every event, each recorded thread on a host thread of its own, and returns
  // the seconds from all threads ready to the last stream synchronised. The allocations
  // the trace never frees stay live: release_live() frees them.
  double replay(replayed_allocator& allocator) {
    const std::size_t thread_count = events_of_thread_.size();
    std::barrier ready(static_cast<std::ptrdiff_t>(thread_count + 1));
    std::atomic<bool> failed{false};
    std::exception_ptr failure;
    std::mutex failure_mutex;
    std::vector<std::thread> threads;
    threads.reserve(thread_count);
    for (std::size_t t = 0; t < thread_count; ++t) {
      threads.emplace_back([&, t] {
        ready.arrive_and_wait();
        try {
          replay_thread(allocator, events_of_thread_[t], failed);
        } catch (...) {
          const std::lock_guard lock(failure_mutex);
          if (!failure) failure = std::current_exception();
          failed = true;
        }
      });
    }
    ready.arrive_and_wait();
    const auto start = std::chrono::steady_clock::now();
    for (std::thread& thread : threads) thread.join();
    if (!failure) {
      for (const stream_view stream : streams_) allocator.synchronize(stream);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (failure) {
      release_live(allocator);
      std::rethrow_exception(failure);
    }
    return seconds;
  }

  // Frees every allocation a replay left live (the trace's last ones), untimed.
  void release_live(replayed_allocator& allocator) {
    for (std::size_t id = 0; id < trace_.allocations; ++id) {
      void* const pointer = pointers_[id].exchange(nullptr);
      if (pointer == nullptr) continue;
      const trace_event& made = trace_.events[allocated_[id]];
      allocator.deallocate(pointer, made.bytes, streams_[made.stream]);
    }
  }

  // One replay in file order on this thread, calling `after(event index)` after each.
  template <typename After>
  void replay_in_file_order(replayed_allocator& allocator, After after) {
    try {
      for (std::size_t i = 0; i < trace_.events.size(); ++i) {
        perform(allocator, trace_.events[i]);
        after(i);
      }
    } catch (...) {
      release_live(allocator);
      throw;
    }
  }

 private:
  void replay_thread(replayed_allocator& allocator, const std::vector<std::uint32_t>& events,
                     const std::atomic<bool>& failed) {
    for (const std::uint32_t index : events) {
      const trace_event& event = trace_.events[index];
      if (event.action == trace_action::free) {
        // Made by another thread that may not have got there yet.
        while (pointers_[event.allocation].load(std::memory_order_acquire) == nullptr) {
          if (failed) return;
          std::this_thread::yield();
        }
      }
      perform(allocator, event);
    }
  }

  void perform(replayed_allocator& allocator, const trace_event& event) {
    const stream_view stream = streams_[event.stream];
    std::atomic<void*>& slot = pointers_[event.allocation];
    if (event.action == trace_action::allocate) {
      slot.store(allocator.allocate(event.bytes, stream), std::memory_order_release);
    } else {
      void* const pointer = slot.exchange(nullptr, std::memory_order_acq_rel);
      // A free replayed before its allocation: the replay's own ordering is broken.
      if (pointer == nullptr) {
        throw std::logic_error(
            fmt::format("replay of {}: a free of allocation {} came before the allocation",
                        trace_.name, event.allocation));
      }
      allocator.deallocate(pointer, event.bytes, stream);
    }
  }

  const recorded_trace& trace_;
  std::vector<stream_view> streams_;
  std::vector<std::vector<std::uint32_t>> events_of_thread_;
  std::unique_ptr<std::atomic<void*>[]> pointers_;  // by allocation id; null: not live
  std::vector<std::uint32_t> allocated_;            // by allocation id: the allocate event
};

// What one allocator did with one trace.
struct replay_measurement {
  double cold_seconds = 0;
  timed_samples steady;  // seconds per replay
  std::size_t peak_held = 0;
  std::size_t held_after_trim = 0;
  std::optional<std::size_t> peak_live;
  std::optional<testing::making_calls> cold_calls;
  std::vector<std::uint64_t> steady_calls;  // per timed replay
};

std::optional<testing::making_calls> calls_since(const replayed_allocator& allocator,
                                                 const std::optional<testing::making_calls>& from) {
  const std::optional<testing::making_calls> now = allocator.driver_calls();
  if (!now || !from) return std::nullopt;
  return testing::making_calls{now->reserve - from->reserve, now->create - from->create,
                               now->map - from->map, now->set_access - from->set_access,
                               now->mapped_bytes - from->mapped_bytes};
}

replay_measurement measure(trace_replayer& replayer, const allocator_kind& kind,
                           const sampling_plan& plan, const std::function<void()>& progress) {
  replay_measurement result;
  const std::unique_ptr<replayed_allocator> allocator = kind.make();
  std::optional<testing::making_calls> before = allocator->driver_calls();
  progress();
  result.cold_seconds = replayer.replay(*allocator);
  result.cold_calls = calls_since(*allocator, before);
  replayer.release_live(*allocator);
  for (std::size_t i = 0; i < plan.warmup + plan.repetitions; ++i) {
    progress();
    before = allocator->driver_calls();
    const double seconds = replayer.replay(*allocator);
    const bool last = i + 1 == plan.warmup + plan.repetitions;
    if (i >= plan.warmup) {
      result.steady.seconds_per_operation.push_back(seconds);
      if (const auto calls = calls_since(*allocator, before)) {
        result.steady_calls.push_back(calls->total());
      }
    }
    // With the trace's last allocations live, as the workload would leave them.
    if (last) result.held_after_trim = allocator->trim();
    replayer.release_live(*allocator);
  }
  result.peak_held = allocator->peak_held();
  result.peak_live = allocator->peak_live();
  return result;
}

// Memory `kind` holds over one untimed replay in file order, on a fresh instance.
sampled_line memory_held_line(trace_replayer& replayer, const recorded_trace& trace,
                              const allocator_kind& kind, const std::string& label) {
  footprint_windows footprint(trace.events.size(), footprint_windows_per_line);
  const std::unique_ptr<replayed_allocator> allocator = kind.make();
  replayer.replay_in_file_order(
      *allocator, [&](std::size_t index) { footprint.record(index, allocator->held()); });
  replayer.release_live(*allocator);
  return footprint.line(kind.id, label);
}

sampled_line live_line(const recorded_trace& trace, footprint_windows& windows) {
  std::size_t live = 0;
  for (std::size_t i = 0; i < trace.events.size(); ++i) {
    const trace_event& event = trace.events[i];
    live = event.action == trace_action::allocate ? live + event.bytes : live - event.bytes;
    windows.record(i, live);
  }
  return windows.line("live_bytes", "live (requested)");
}

double median_of(std::vector<std::uint64_t> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return static_cast<double>(values[values.size() / 2]);
}

std::vector<metric> replay_metrics(const replay_measurement& measured,
                                   const recorded_trace& trace) {
  const double per_operation =
      microseconds_per_second / static_cast<double>(std::max<std::size_t>(trace.events.size(), 1));
  std::vector<metric> metrics = {
      {"cold_us_per_op", "cold µs/op", metric_kind::factor, measured.cold_seconds * per_operation},
      {"peak_bytes", "peak held", metric_kind::bytes, static_cast<double>(measured.peak_held)},
      {"peak_held_per_live", "peak/live", metric_kind::factor,
       static_cast<double>(measured.peak_held) / static_cast<double>(trace.peak_live_bytes)},
      {"held_after_trim", "after trim", metric_kind::bytes,
       static_cast<double>(measured.held_after_trim)},
  };
  if (measured.cold_calls) {
    const double mapped_gib = static_cast<double>(measured.cold_calls->mapped_bytes) / gib;
    metrics.push_back({"driver_calls_cold", "calls cold", metric_kind::count,
                       static_cast<double>(measured.cold_calls->total())});
    metrics.push_back({"driver_calls_per_replay", "calls/replay", metric_kind::count,
                       median_of(measured.steady_calls)});
    metrics.push_back(
        {"driver_calls_per_gib_mapped", "calls/GiB", metric_kind::factor,
         mapped_gib > 0 ? static_cast<double>(measured.cold_calls->total()) / mapped_gib : 0.0});
  }
  return metrics;
}

std::string trace_summary(const recorded_trace& trace) {
  std::string text = fmt::format(
      "{} events ({} allocations, {} frees), {} thread(s), {} stream(s); peak live {}, {} in {} "
      "allocations live at the end",
      trace.events.size(), trace.allocations, trace.frees, trace.thread_ids.size(),
      trace.stream_ids.size(), format_bytes(trace.peak_live_bytes),
      format_bytes(trace.final_live_bytes), trace.final_live_count);
  if (trace.failed_allocations > 0) {
    text += fmt::format("; {} failed allocations skipped", trace.failed_allocations);
  }
  if (trace.zero_byte_rows > 0) {
    text += fmt::format("; {} rows of 0 bytes skipped", trace.zero_byte_rows);
  }
  return text;
}

}  // namespace

suite_result run_replay_suite(suite_context& context) {
  const replay_settings& settings = context.settings.replay;
  // Read every trace first: a bad file fails before minutes of replaying.
  std::vector<recorded_trace> traces;
  for (const std::string& path : settings.traces) traces.push_back(read_trace_file(path));

  suite_result result;
  result.suite = "replay";
  result.title = "recorded allocation traces replayed by every allocator";
  result.unit = "us";
  result.per = "op";
  result.size_heading = "trace peak live";
  for (const recorded_trace& trace : traces) {
    result.parameters.emplace_back(trace.name, trace_summary(trace));
  }
  result.parameters.emplace_back("repetitions", std::to_string(settings.sampling.repetitions));
  result.parameters.emplace_back("warm-up", std::to_string(settings.sampling.warmup));

  const stream_ordered_options pooled_options;
  stream_ordered_options bounded_options;
  bounded_options.footprint_limit = bounded_footprint_limit;
  const bool on_gpu = context.on_gpu;
  std::vector<allocator_kind> kinds = {
      {"stream_ordered_resource", "stream_ordered_resource",
       [&] {
         return std::make_unique<pooled_allocator>(context.vmm_backend, pooled_options, on_gpu);
       }},
      {"stream_ordered_bounded",
       fmt::format("stream_ordered_resource footprint_limit {:.2f}", bounded_footprint_limit),
       [&] {
         return std::make_unique<pooled_allocator>(context.vmm_backend, bounded_options, on_gpu);
       }},
      {"vmm_resource", "vmm_resource",
       [&] { return std::make_unique<vmm_allocator>(context.vmm_backend); }},
  };
  result.baseline_method = "vmm_resource";
  result.baseline_label = "vmm_resource";
  if (context.runtime_baselines) {
#if VMM_PMR_BENCH_WITH_CUDART
    kinds.push_back({"cudaMallocAsync", "cudaMallocAsync/cudaFreeAsync",
                     [] { return std::make_unique<async_pool_allocator>(); }});
    kinds.push_back({"cudaMalloc", "cudaMalloc/cudaFree",
                     [] { return std::make_unique<cuda_malloc_allocator>(); }});
    result.baseline_method = "cudaMallocAsync";
    result.baseline_label = "cudaMallocAsync/cudaFreeAsync";
#endif
  } else if (on_gpu) {
    result.notes.push_back(
        "no cudaMalloc/cudaMallocAsync rows: the CUDA runtime is not usable here (see the "
        "header's runtime line); every recorded stream replays on the legacy stream");
  }

  const std::size_t replays_per_kind = 1 + settings.sampling.warmup + settings.sampling.repetitions;
  const std::size_t total = traces.size() * kinds.size() * replays_per_kind;
  std::size_t done = 0;
  const auto progress = [&] {
    context.progress.show(result.suite, "trace replays", done++, total);
  };

  for (const recorded_trace& trace : traces) {
    // The streams outlive the allocators, whose destructors wait for them.
#if VMM_PMR_BENCH_WITH_CUDART
    std::vector<std::unique_ptr<cudart::stream>> owned_streams;
#endif
    std::vector<stream_view> streams;
    for (std::size_t s = 0; s < trace.stream_ids.size(); ++s) {
      if (trace.stream_ids[s] == 0 || (on_gpu && !context.runtime_baselines)) {
        streams.push_back(stream_view::legacy_default());
      } else if (context.runtime_baselines) {
#if VMM_PMR_BENCH_WITH_CUDART
        owned_streams.push_back(std::make_unique<cudart::stream>());
        streams.push_back(owned_streams.back()->get());
#endif
      } else {
        // Host backend: streams are names, never dereferenced.
        streams.push_back(stream_view(reinterpret_cast<CUstream_st*>(0x1000 * (s + 1))));
      }
    }
    trace_replayer replayer(trace, streams);
    const double per_operation = microseconds_per_second /
                                 static_cast<double>(std::max<std::size_t>(trace.events.size(), 1));

    footprint_windows live_windows(trace.events.size(), footprint_windows_per_line);
    sampled_series series{
        .name = "memory_held:" + trace.name,
        .title = fmt::format(
            "{}: memory held over one replay, each allocator on a fresh instance (the most in "
            "each window of events)",
            trace.name),
        .x_label = "events replayed",
        .y_label = "bytes held",
        .x = {},
        .lines = {live_line(trace, live_windows)}};
    series.x = live_windows.x();

    for (const allocator_kind& kind : kinds) {
      const replay_measurement measured = measure(replayer, kind, settings.sampling, progress);
      const std::string label = fmt::format("{} on {}", kind.label, trace.name);
      result_row row =
          measured_row(kind.id, label, trace.peak_live_bytes, measured.steady, per_operation);
      row.operations_per_sample = trace.events.size();
      row.metrics = replay_metrics(measured, trace);
      result.rows.push_back(std::move(row));
      // In file order on one thread, a replay has the trace's own peak.
      if (trace.thread_ids.size() == 1 && measured.peak_live &&
          *measured.peak_live != trace.peak_live_bytes) {
        result.notes.push_back(fmt::format(
            "inconsistent: {}'s peak live bytes on {} ({}) differ from the trace's ({})", kind.id,
            trace.name, format_bytes(*measured.peak_live), format_bytes(trace.peak_live_bytes)));
      }
      // cudaMalloc holds what is live: its line would be the live line.
      if (kind.id != "cudaMalloc") {
        series.lines.push_back(memory_held_line(replayer, trace, kind, label));
      }
    }
    result.series.push_back(std::move(series));
  }
  result.compute_ratios();

  result.notes.push_back(
      "µs/op: a replay's time over its events (allocations and frees), in the timed replays on "
      "the same instance (the steady state); cold µs/op: the first replay, on a fresh instance. "
      "peak held: the most the allocator held from the device over every replay (mapped bytes "
      "for the pools, live rounded to the granularity for vmm_resource, reserved memory for "
      "cudaMallocAsync, live for cudaMalloc); peak/live: that over the trace's peak live; after "
      "trim: held after trim() (cudaMemPoolTrimTo(0)) at the end of the last replay, with the "
      "allocations the trace never frees still live");
  result.notes.push_back(
      "calls cold, calls/replay: the driver calls that made something (reservations, physical "
      "allocations, maps, access grants) in the cold replay and in a timed one (the median); "
      "calls/GiB: the cold replay's calls per GiB it mapped");
  result.notes.push_back(fmt::format(
      "stream_ordered_bounded: footprint_limit {:.2f}, as in the churn suite's bounded row",
      bounded_footprint_limit));
  return result;
}

}  // namespace vmm_pmr::bench
