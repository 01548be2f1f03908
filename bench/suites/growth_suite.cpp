// The growth suite: one buffer grown from 2 MiB to the final size, doubling each step.
//
// A sample is one whole growth, from nothing to a buffer of the final size; freeing the
// final buffer is left out of the time (it is the same for every method, and not growth).
// Bytes copied and peak memory held are counted by the suite itself as it goes, since a
// driver has no per-process counter that would tell them apart from other work; for
// vmm_resource the peak is also read back from the resource's statistics.
//
// The rows:
//   raw floor, doubling chunks   one reservation of the final size; physical chunks of
//                                doubling size mapped behind each other, access set per
//                                chunk. What growth in place can at best cost (baseline).
//   raw, granule chunks          the same with granularity-sized chunks: the per-handle
//                                cost that makes growing chunk sizes necessary.
//   vmm_resource + copy          allocate the doubled size, backend copy, deallocate.
//   cudaMalloc + cudaMemcpy      the same with the CUDA runtime (GPU only).
//   in place, reserved ahead     device_buffer on a vmm_resource, resized doubling, with
//                                the final size's address space reserved up front (like the
//                                floor's one reservation): new memory is mapped behind the
//                                old, the pointer never changes, nothing is copied.
//   in place, no reservation     the same without reserving ahead: each growth reserves
//                                right behind the buffer, or remaps it (no copy) when that
//                                address is taken; "moves" counts the remaps.
//   device_vector::append        final/8 uint64_t elements appended in batches from a host
//                                buffer (capacity doubling, growth in place), against
//   std::vector::insert          the same appends into a std::vector on the host; both rows
//                                report nanoseconds per element.
// The in-place rows copy nothing by construction (device_buffer on a vmm_resource has no
// copy path; the tests show the physical memory is the same after a move), and their peak
// is the resource's own peak of mapped memory.
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "suites/suite.hpp"
#include "vmm_pmr/buffer/device_buffer.hpp"
#include "vmm_pmr/buffer/device_vector.hpp"
#include "vmm_pmr/core/byte_size.hpp"
#include "vmm_pmr/resource/vmm_resource.hpp"
#include "vmm_pmr/testing/call_counting_backend.hpp"
#include "workloads/cuda_runtime.hpp"

namespace vmm_pmr::bench {
namespace {

constexpr double milliseconds_per_second = 1e3;

struct growth_accounting {
  std::size_t bytes_copied = 0;
  std::size_t peak_held = 0;
  std::size_t chunks = 0;
  // In-place rows only.
  std::optional<std::size_t> moves;     // growths after which the pointer differed
  std::optional<std::size_t> elements;  // append rows: elements appended per growth
};

struct growth_method {
  std::string id;
  std::string label;
  timed_method run;
  // Filled in by every run (they are all identical), read once afterwards.
  std::shared_ptr<growth_accounting> accounting = std::make_shared<growth_accounting>();
  // Rows on a backend: the calls that made something, over `growths` growths (warm-ups
  // and teardowns included; teardowns make nothing).
  std::shared_ptr<testing::call_counting_backend> calls = nullptr;
  std::uint64_t calls_before_sampling = 0;  // making the resource (its probe allocation)
  std::shared_ptr<std::size_t> growths = std::make_shared<std::size_t>(0);
};

// `method` counting the growths it runs.
timed_method counting_growths(timed_method method, std::shared_ptr<std::size_t> growths) {
  return [method = std::move(method), growths](std::size_t count) {
    *growths += count;
    return method(count);
  };
}

// Sizes of the chunks mapped one behind the other: the first `initial`, then each as
// large as everything before it (so the buffer doubles), the last cut to fit `final_size`.
std::vector<std::size_t> doubling_chunks(std::size_t initial, std::size_t final_size) {
  std::vector<std::size_t> chunks;
  std::size_t mapped = 0;
  while (mapped < final_size) {
    const std::size_t chunk = std::min(mapped == 0 ? initial : mapped, final_size - mapped);
    chunks.push_back(chunk);
    mapped += chunk;
  }
  return chunks;
}

std::vector<std::size_t> equal_chunks(std::size_t chunk, std::size_t final_size) {
  return std::vector<std::size_t>(final_size / chunk, chunk);
}

// The raw floor: reserve once, map `chunks` behind each other, grant access per chunk.
timed_method raw_chunked_growth(backend& driver, const detail::resolved_options& options,
                                std::size_t final_size, std::vector<std::size_t> chunks,
                                std::shared_ptr<growth_accounting> accounting) {
  return
      [&driver, &options, final_size, chunks = std::move(chunks), accounting](std::size_t growths) {
        double seconds = 0;
        for (std::size_t g = 0; g < growths; ++g) {
          std::vector<physical_handle> handles;
          handles.reserve(chunks.size());
          address base = 0;
          seconds += seconds_to_run([&] {
            base = driver.reserve_address_range(final_size, options.reservation_alignment, 0);
            std::size_t offset = 0;
            for (const std::size_t chunk : chunks) {
              handles.push_back(driver.create(chunk, options.properties));
              driver.map(base + offset, chunk, 0, handles.back());
              driver.set_access(base + offset, chunk, options.access);
              offset += chunk;
            }
          });
          std::size_t offset = 0;
          for (std::size_t i = 0; i < handles.size(); ++i) {
            driver.unmap(base + offset, chunks[i]);
            driver.release(handles[i]);
            offset += chunks[i];
          }
          driver.free_address_range(base, final_size);
        }
        *accounting = {.bytes_copied = 0,
                       .peak_held = final_size,
                       .chunks = chunks.size(),
                       .moves = std::nullopt,
                       .elements = std::nullopt};
        return seconds;
      };
}

timed_method vmm_resource_copy_growth(vmm_resource& resource, std::size_t initial,
                                      std::size_t final_size,
                                      std::shared_ptr<growth_accounting> accounting) {
  return [&resource, initial, final_size, accounting](std::size_t growths) {
    double seconds = 0;
    for (std::size_t g = 0; g < growths; ++g) {
      growth_accounting counted;
      void* buffer = nullptr;
      std::size_t size = 0;
      seconds += seconds_to_run([&] {
        size = initial;
        buffer = resource.allocate(size);
        counted.peak_held = size;
        while (size < final_size) {
          const std::size_t grown = std::min(size * 2, final_size);
          void* larger = resource.allocate(grown);
          resource.driver().copy(reinterpret_cast<address>(larger),
                                 reinterpret_cast<address>(buffer), size);
          counted.bytes_copied += size;
          counted.peak_held = std::max(counted.peak_held, size + grown);
          resource.deallocate(buffer, size);
          buffer = larger;
          size = grown;
        }
      });
      resource.deallocate(buffer, size);
      *accounting = counted;
    }
    return seconds;
  };
}

#if VMM_PMR_BENCH_WITH_CUDART
timed_method cuda_malloc_copy_growth(std::size_t initial, std::size_t final_size,
                                     std::shared_ptr<growth_accounting> accounting) {
  return [initial, final_size, accounting](std::size_t growths) {
    double seconds = 0;
    for (std::size_t g = 0; g < growths; ++g) {
      growth_accounting counted;
      void* buffer = nullptr;
      std::size_t size = 0;
      seconds += seconds_to_run([&] {
        size = initial;
        cudart::check(cudaMalloc(&buffer, size), "cudaMalloc");
        counted.peak_held = size;
        while (size < final_size) {
          const std::size_t grown = std::min(size * 2, final_size);
          void* larger = nullptr;
          cudart::check(cudaMalloc(&larger, grown), "cudaMalloc");
          cudart::check(cudaMemcpy(larger, buffer, size, cudaMemcpyDeviceToDevice), "cudaMemcpy");
          counted.bytes_copied += size;
          counted.peak_held = std::max(counted.peak_held, size + grown);
          cudart::check(cudaFree(buffer), "cudaFree");
          buffer = larger;
          size = grown;
        }
        // cudaMemcpy between device buffers may return before the copy is done.
        cudart::check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
      });
      cudart::check(cudaFree(buffer), "cudaFree");
      *accounting = counted;
    }
    return seconds;
  };
}
#endif

// On the host backend every physical handle is a memfd: a growth in granule-sized chunks
// holds final/granularity descriptors at once, which can exceed the process's limit.
bool enough_file_descriptors(std::size_t handles) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  return limit.rlim_cur == RLIM_INFINITY || handles + 64 <= limit.rlim_cur;
}

// device_buffer on `resource`, resized doubling from `initial` to `final_size`; with
// `reserve_ahead` the final size's address space is reserved before the first allocation.
timed_method in_place_growth(vmm_resource& resource, std::size_t initial, std::size_t final_size,
                             bool reserve_ahead, std::shared_ptr<growth_accounting> accounting) {
  return [&resource, initial, final_size, reserve_ahead, accounting](std::size_t growths) {
    double seconds = 0;
    for (std::size_t g = 0; g < growths; ++g) {
      growth_accounting counted;
      counted.moves = 0;
      device_buffer buffer(0, {}, &resource);
      std::size_t size = initial;
      seconds += seconds_to_run([&] {
        if (reserve_ahead) buffer.reserve_address_space(final_size);
        buffer.resize(size, {});
        while (size < final_size) {
          const void* before = buffer.data();
          size = std::min(size * 2, final_size);
          buffer.resize(size, {});
          if (buffer.data() != before) ++*counted.moves;
        }
      });
      counted.chunks = resource.find(buffer.data())->chunks.size();
      buffer.release();
      counted.peak_held = resource.stats().peak_mapped_bytes;
      *accounting = counted;
    }
    return seconds;
  };
}

using element = std::uint64_t;
constexpr std::size_t append_batch_elements = std::size_t{1} << 20;  // 8 MiB a batch

std::vector<element> append_batch(std::size_t elements) {
  std::vector<element> batch(std::min(elements, append_batch_elements));
  std::iota(batch.begin(), batch.end(), element{0});
  return batch;
}

// device_vector<uint64_t>::append of final_size / 8 elements, in batches from the host.
timed_method device_vector_append(vmm_resource& resource, std::size_t final_size,
                                  std::shared_ptr<growth_accounting> accounting) {
  const std::size_t elements = final_size / sizeof(element);
  return [&resource, elements, accounting, batch = append_batch(elements)](std::size_t growths) {
    double seconds = 0;
    for (std::size_t g = 0; g < growths; ++g) {
      growth_accounting counted;
      counted.moves = 0;
      counted.elements = elements;
      device_vector<element> values(0, {}, &resource);
      seconds += seconds_to_run([&] {
        for (std::size_t done = 0; done < elements; done += batch.size()) {
          const void* before = values.data();
          const std::size_t count = std::min(batch.size(), elements - done);
          values.append(std::span<const element>(batch.data(), count), {});
          if (before != nullptr && values.data() != before) ++*counted.moves;
        }
        // The copies are ordered on the stream: the appends are done once it is.
        values.element(values.size() - 1, {});
      });
      counted.chunks = resource.find(values.data())->chunks.size();
      values.release_buffer().release();
      counted.peak_held = resource.stats().peak_mapped_bytes;
      *accounting = counted;
    }
    return seconds;
  };
}

// The reference: the same appends into a std::vector on the host.
timed_method std_vector_append(std::size_t final_size,
                               std::shared_ptr<growth_accounting> accounting) {
  const std::size_t elements = final_size / sizeof(element);
  return [elements, accounting, batch = append_batch(elements)](std::size_t growths) {
    double seconds = 0;
    for (std::size_t g = 0; g < growths; ++g) {
      growth_accounting counted;
      counted.elements = elements;
      std::vector<element> values;
      seconds += seconds_to_run([&] {
        for (std::size_t done = 0; done < elements; done += batch.size()) {
          const std::size_t capacity = values.capacity();
          const std::size_t count = std::min(batch.size(), elements - done);
          values.insert(values.end(), batch.begin(), batch.begin() + static_cast<long>(count));
          if (values.capacity() != capacity) {
            counted.bytes_copied += (values.size() - count) * sizeof(element);
            counted.peak_held =
                std::max(counted.peak_held, (capacity + values.capacity()) * sizeof(element));
          }
        }
        keep_observable(values.data());
      });
      *accounting = counted;
    }
    return seconds;
  };
}

const result_row* find_row(const suite_result& result, std::string_view method) {
  for (const result_row& row : result.rows) {
    if (row.method == method) return &row;
  }
  return nullptr;
}

// The targets, as ratios of this run's rows: in place against the floor and
// against doubling cudaMalloc + copy, its copies, pointer and peak.
void add_in_place_notes(suite_result& result, std::size_t final_size) {
  const result_row* in_place = find_row(result, "in_place");
  const result_row* floor = find_row(result, "raw_doubling_chunks");
  if (in_place == nullptr || floor == nullptr) return;
  std::string note = fmt::format(
      "in place (reserved ahead): {:.2f}x the raw floor (target <= 1.5x; p10 against p10 "
      "{:.2f}x), copied {}, pointer {}, peak {} for a final size of {}",
      in_place->time.median / floor->time.median, in_place->time.p10 / floor->time.p10,
      format_bytes(static_cast<std::size_t>(in_place->find_metric("bytes_copied")->value)),
      in_place->find_metric("moves")->value == 0 ? "unchanged" : "CHANGED",
      format_bytes(static_cast<std::size_t>(in_place->find_metric("peak_bytes")->value)),
      format_bytes(final_size));
  if (const result_row* copy = find_row(result, "cudaMalloc_copy")) {
    note += fmt::format("; {:.1f}x faster than doubling cudaMalloc + copy (target >= 5x)",
                        copy->time.median / in_place->time.median);
  }
  result.notes.push_back(note);
  // The floor is the least driver work that grows a mapping this way: the buffer's growth
  // makes the same calls, so a ratio far from 1 is the driver's noise, not the baseline.
  const metric* floor_calls = floor->find_metric("driver_calls");
  const metric* in_place_calls = in_place->find_metric("driver_calls");
  if (floor_calls != nullptr && in_place_calls != nullptr) {
    result.notes.push_back(fmt::format(
        "driver calls per growth (reservations, allocations, maps, access grants): raw floor "
        "{:.0f}, in place {:.0f}{}",
        floor_calls->value, in_place_calls->value,
        floor_calls->value == in_place_calls->value ? " (the same work)" : ""));
  }
  if (static_cast<std::size_t>(in_place->find_metric("peak_bytes")->value) != final_size) {
    result.notes.push_back("inconsistent: the in-place peak differs from the final size");
  }
}

}  // namespace

suite_result run_growth_suite(suite_context& context) {
  const growth_settings& settings = context.settings.growth;
  backend& driver = *context.vmm_backend;
  vmm_resource resource(context.vmm_backend);
  const detail::resolved_options options = detail::resolve_options(vmm_options{}, driver);
  const std::size_t granularity = options.granularity;
  const std::size_t initial = *round_up(settings.initial_size, granularity);
  const std::size_t final_size = std::max(*round_up(settings.final_size, granularity), initial);

  suite_result result;
  result.suite = "growth";
  result.title = fmt::format("one buffer grown from {} to {}, doubling", format_bytes(initial),
                             format_bytes(final_size));
  result.unit = "ms";
  result.per = "growth";
  result.size_heading = "final size";
  result.baseline_method = "raw_doubling_chunks";
  result.baseline_label = "raw floor (doubling chunks)";
  result.parameters = {
      {"repetitions", std::to_string(settings.sampling.repetitions)},
      {"warm-up", std::to_string(settings.sampling.warmup)},
  };

  std::vector<growth_method> methods;
  // Each backend row counts its driver calls on a decorator of its own.
  const auto counted_backend = [&](growth_method& method) {
    method.calls = std::make_shared<testing::call_counting_backend>(context.vmm_backend);
    return method.calls;
  };
  methods.push_back({"raw_doubling_chunks", "raw floor (doubling chunks)", {}});
  methods.back().run =
      raw_chunked_growth(*counted_backend(methods.back()), options, final_size,
                         doubling_chunks(initial, final_size), methods.back().accounting);
  const std::size_t granules = final_size / granularity;
  if (context.on_gpu || enough_file_descriptors(granules)) {
    methods.push_back(
        {"raw_granule_chunks", fmt::format("raw, {} chunks", format_bytes(granularity)), {}});
    methods.back().run =
        raw_chunked_growth(*counted_backend(methods.back()), options, final_size,
                           equal_chunks(granularity, final_size), methods.back().accounting);
  } else {
    result.notes.push_back(fmt::format(
        "no '{} chunks' row: it needs {} memfds open at once, above this process's limit "
        "(ulimit -n)",
        format_bytes(granularity), granules));
  }
  // Each in-place row on a resource of its own, so its peak is its own.
  methods.push_back({"in_place", "in place (device_buffer), reserved ahead", {}});
  vmm_resource in_place_resource(counted_backend(methods.back()));
  methods.back().run =
      in_place_growth(in_place_resource, initial, final_size, true, methods.back().accounting);
  methods.push_back({"in_place_unreserved", "in place (device_buffer), no reservation", {}});
  vmm_resource unreserved_resource(counted_backend(methods.back()));
  methods.back().run =
      in_place_growth(unreserved_resource, initial, final_size, false, methods.back().accounting);
  vmm_resource append_resource(context.vmm_backend);
  methods.push_back({"device_vector_append", "device_vector<u64>::append, batches", {}});
  methods.back().run = device_vector_append(append_resource, final_size, methods.back().accounting);
  methods.push_back({"std_vector_append", "std::vector<u64> insert on the host", {}});
  methods.back().run = std_vector_append(final_size, methods.back().accounting);
  methods.push_back({"vmm_resource_copy", "vmm_resource + backend copy", {}});
  methods.back().run =
      vmm_resource_copy_growth(resource, initial, final_size, methods.back().accounting);
  if (context.runtime_baselines) {
#if VMM_PMR_BENCH_WITH_CUDART
    methods.push_back({"cudaMalloc_copy", "cudaMalloc + cudaMemcpy D2D", {}});
    methods.back().run = cuda_malloc_copy_growth(initial, final_size, methods.back().accounting);
#endif
  } else if (context.on_gpu) {
    result.notes.push_back(
        "no cudaMalloc row: the CUDA runtime is not usable here (see the header's runtime line)");
  } else {
    result.notes.push_back(
        "host backend: the copy is a memmove that faults in every page it reads and writes, "
        "while the raw rows map pages they never touch");
  }

  std::vector<timed_method> timed;
  for (growth_method& method : methods) {
    if (method.calls) method.calls_before_sampling = method.calls->made().total();
    timed.push_back(counting_growths(method.run, method.growths));
  }
  const std::vector<timed_samples> samples =
      sample_interleaved(settings.sampling, timed, [&](std::size_t done, std::size_t total) {
        context.progress.show(result.suite, fmt::format("growths to {}", format_bytes(final_size)),
                              done, total);
      });

  for (std::size_t m = 0; m < methods.size(); ++m) {
    result_row row = measured_row(methods[m].id, methods[m].label, final_size, samples[m],
                                  milliseconds_per_second);
    const growth_accounting& counted = *methods[m].accounting;
    row.metrics = {
        {"bytes_copied", "copied", metric_kind::bytes, static_cast<double>(counted.bytes_copied)},
        {"peak_bytes", "peak held", metric_kind::bytes, static_cast<double>(counted.peak_held)},
    };
    if (counted.chunks != 0) {
      row.metrics.push_back(
          {"chunks", "chunks", metric_kind::count, static_cast<double>(counted.chunks)});
    }
    if (counted.moves) {
      row.metrics.push_back(
          {"moves", "moves", metric_kind::count, static_cast<double>(*counted.moves)});
    }
    if (methods[m].calls && *methods[m].growths != 0) {
      row.metrics.push_back({"driver_calls", "calls/growth", metric_kind::count,
                             static_cast<double>(methods[m].calls->made().total() -
                                                 methods[m].calls_before_sampling) /
                                 static_cast<double>(*methods[m].growths)});
    }
    if (counted.elements) {
      row.metrics.push_back({"ns_per_element", "ns/elem.", metric_kind::factor,
                             row.time.median * 1e6 / static_cast<double>(*counted.elements)});
    }
    result.rows.push_back(std::move(row));
  }
  result.compute_ratios();
  add_in_place_notes(result, final_size);

  const allocation_stats stats = resource.stats();
  const result_row* copy_row = nullptr;
  for (const result_row& row : result.rows) {
    if (row.method == "vmm_resource_copy") copy_row = &row;
  }
  if (copy_row != nullptr &&
      static_cast<double>(stats.peak_mapped_bytes) != copy_row->find_metric("peak_bytes")->value) {
    result.notes.push_back(fmt::format(
        "inconsistent: vmm_resource reports a peak of {} mapped, the suite counted {}",
        format_bytes(stats.peak_mapped_bytes),
        format_bytes(static_cast<std::size_t>(copy_row->find_metric("peak_bytes")->value))));
  }
  return result;
}

}  // namespace vmm_pmr::bench
