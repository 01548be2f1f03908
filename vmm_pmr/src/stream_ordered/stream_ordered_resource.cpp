// stream_ordered_resource: options, policies for bad input, messages, the std::pmr
// faces. The allocator itself is detail::stream_ordered_pool (src/stream_ordered/).
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "resource/device_label.hpp"
#include "resource/pointer_fault.hpp"
#include "resource/resource_probe.hpp"
#include "resource/resource_reports.hpp"
#include "resource/zero_size_pointer.hpp"
#include "stream_ordered/pool/size_classes.hpp"
#include "stream_ordered/pool/stream_ordered_pool.hpp"
#include "vmm_pmr/backend/cuda_backend.hpp"
#include "vmm_pmr/core/byte_size.hpp"
#include "vmm_pmr/core/cleanup_errors.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/handles/physical_memory.hpp"
#include "vmm_pmr/registry/allocation_stats_formatter.hpp"
#include "vmm_pmr/registry/mapping_registry.hpp"
#include "vmm_pmr/resource/vmm_options_formatter.hpp"

namespace vmm_pmr {
namespace {

constexpr std::size_t mib = std::size_t{1} << 20;
constexpr std::size_t gib = std::size_t{1} << 30;
constexpr std::size_t default_min_chunk = 2 * mib;
constexpr std::size_t default_max_chunk = gib;

using detail::device_label;

std::size_t rounded_option(std::size_t value, std::size_t granularity, const char* name) {
  const std::optional<std::size_t> rounded = round_up(value, granularity);
  if (!rounded) {
    throw invalid_argument(
        fmt::format("stream_ordered_options::{} = {} overflows when rounded "
                    "up to the {} granularity",
                    name, value, format_bytes(granularity)));
  }
  return *rounded;
}

// A chunk is whole granules: a size the caller gives must be a multiple of the
// granularity (rounding it would map chunks of a size nobody asked for); 0 takes
// `fallback`, rounded up, since the granularity may be larger than a default.
std::size_t chunk_size_option(std::size_t value, std::size_t fallback, std::size_t granularity,
                              const char* name) {
  if (value == 0) return rounded_option(fallback, granularity, name);
  if (value % granularity == 0) return value;
  const std::size_t below = value / granularity * granularity;
  const std::optional<std::size_t> above = round_up(value, granularity);
  const auto exact = [](std::size_t bytes) {
    return fmt::format("{} ({})", bytes, format_bytes(bytes));
  };
  std::string nearest;
  if (below != 0) nearest = exact(below);
  if (above) nearest += (nearest.empty() ? "" : " or ") + exact(*above);
  throw invalid_argument(
      fmt::format("stream_ordered_options::{} = {} is not a multiple of the {} granularity "
                  "(chunks are whole granules): use {}",
                  name, exact(value), format_bytes(granularity), nearest));
}

// Twice the device's memory, rounded up to 1 GiB: room for the holes trim leaves between
// chunks, and for chunks that overshoot a little.
std::size_t default_reservation(const device_attributes& device) {
  const std::size_t twice = device.total_memory > SIZE_MAX / 2 ? SIZE_MAX : 2 * device.total_memory;
  return std::max(gib, round_up(twice, gib).value_or(SIZE_MAX / gib * gib));
}

detail::pool_settings resolve_pool_settings(const stream_ordered_options& options,
                                            const detail::resolved_options& resolved) {
  const std::size_t granularity = resolved.granularity;
  detail::pool_settings settings;
  settings.properties = resolved.properties;
  settings.access = resolved.access;
  settings.granularity = granularity;
  settings.reservation_alignment = std::max(resolved.reservation_alignment, granularity);
  settings.reservation_size =
      rounded_option(options.reservation_size != 0 ? options.reservation_size
                                                   : default_reservation(resolved.device),
                     granularity, "reservation_size");
  settings.min_chunk_size =
      chunk_size_option(options.min_chunk_size, default_min_chunk, granularity, "min_chunk_size");
  settings.max_chunk_size =
      chunk_size_option(options.max_chunk_size, default_max_chunk, granularity, "max_chunk_size");
  if (settings.min_chunk_size > settings.max_chunk_size) {
    throw invalid_argument(fmt::format(
        "stream_ordered_options: min_chunk_size ({}) is larger than max_chunk_size ({})",
        format_bytes(settings.min_chunk_size), format_bytes(settings.max_chunk_size)));
  }
  if (settings.min_chunk_size > settings.reservation_size) {
    throw invalid_argument(fmt::format(
        "stream_ordered_options: min_chunk_size ({}) is larger than the reservation ({})",
        format_bytes(settings.min_chunk_size), format_bytes(settings.reservation_size)));
  }
  // A chunk never outgrows the reservation it is mapped into.
  settings.max_chunk_size = std::min(settings.max_chunk_size, settings.reservation_size);
  settings.release_threshold = options.release_threshold;
  if (options.footprint_limit) {
    const double limit = *options.footprint_limit;
    // Written so that NaN fails too.
    if (!(limit >= 1.0 && limit <= std::numeric_limits<double>::max())) {
      throw invalid_argument(fmt::format(
          "stream_ordered_options::footprint_limit = {} must be a finite number ≥ 1.0 (the "
          "mapped bytes allowed per byte live at the peak)",
          limit));
    }
    settings.footprint_limit = limit;
  }
  return settings;
}

detail::pointer_fault fault_of(detail::bad_free problem) noexcept {
  switch (problem) {
    case detail::bad_free::double_free:
      return detail::pointer_fault::double_free;
    case detail::bad_free::interior_pointer:
      return detail::pointer_fault::interior_pointer;
    case detail::bad_free::inside_free_block:
      return detail::pointer_fault::inside_free_block;
    case detail::bad_free::unmapped_pointer:
      return detail::pointer_fault::unmapped_pointer;
    case detail::bad_free::wrong_size:
      return detail::pointer_fault::wrong_size;
    case detail::bad_free::none:
    case detail::bad_free::unknown_pointer:
      break;
  }
  return detail::pointer_fault::unknown_pointer;
}

}  // namespace

stream_ordered_resource::stream_ordered_resource(stream_ordered_options options)
    : stream_ordered_resource(cuda_backend(), std::move(options)) {}

stream_ordered_resource::stream_ordered_resource(std::shared_ptr<backend> backend,
                                                 stream_ordered_options options)
    : backend_(std::move(backend)),
      options_(std::move(options)),
      resolved_(detail::resolve_options(options_.memory, *backend_)) {
  detail::install_default_reports(options_.memory, "stream_ordered_resource", resolved_.device);
  detail::pool_settings settings = resolve_pool_settings(options_, resolved_);
  // Refusals only the driver can tell fail here, as for vmm_resource, not at the first
  // allocation of a workload; a refused fabric falls back to posix_fd the same way.
  resolved_.properties = detail::probe_options(*backend_, options_.memory, resolved_);
  settings.properties = resolved_.properties;
  pool_ = std::make_unique<detail::stream_ordered_pool>(*backend_, mapping_registry::global(), this,
                                                        std::move(settings));
}

stream_ordered_resource::~stream_ordered_resource() {
  std::vector<detail::leaked_block> leaked;
  try {
    leaked = pool_->shut_down();
  } catch (const std::exception& failure) {
    report_cleanup_error("shutting down a stream_ordered_resource", failure);
  }
  pool_.reset();
  if (leaked.empty()) return;
  leak_report report;
  report.owner = this;
  for (const detail::leaked_block& block : leaked) {
    allocation_info info;
    info.base = block.base;
    info.requested_bytes = block.requested;
    info.mapped_bytes = block.size;
    info.alignment = detail::block_alignment;
    info.location = resolved_.properties.location;
    info.owner = this;
    report.leaked.push_back(std::move(info));
    report.leaked_bytes += block.requested;
  }
  detail::report_leak(options_.memory, report);
}

void* stream_ordered_resource::allocate(std::size_t bytes, stream_view stream,
                                        std::size_t alignment) {
  if (!is_power_of_two(alignment)) {
    throw invalid_argument(
        fmt::format("stream_ordered_resource::allocate({}): alignment {} is not a power of two",
                    format_bytes(bytes), alignment));
  }
  if (bytes == 0) return detail::zero_size_pointer(alignment);
  const std::optional<std::size_t> block_size = detail::block_size_for(bytes);
  const std::size_t block_alignment = std::max(alignment, detail::block_alignment);
  const auto request = [&] {
    return fmt::format("stream_ordered_resource::allocate({}, alignment {}, {}) on {}",
                       format_bytes(bytes), alignment, to_string(stream),
                       device_label(resolved_.device));
  };
  if (!block_size) {
    throw out_of_memory(
        fmt::format("{}: the size overflows when rounded up to a block size", request()));
  }
  try {
    return pool_->allocate(bytes, *block_size, block_alignment, stream);
  } catch (const out_of_memory& failure) {
    throw out_of_memory(
        fmt::format("{}: out of memory ({}), also after trimming; this resource "
                    "holds {}",
                    request(), failure.what(), to_string(stats())));
  } catch (const driver_error& failure) {
    throw driver_error(
        failure.call(), failure.result_name(), failure.result_code(),
        failure.detail().empty() ? request() : failure.detail() + "; in " + request());
  } catch (const invalid_argument& failure) {
    throw invalid_argument(fmt::format("{}: {}", request(), failure.what()));
  } catch (const detail::pool_asleep& failure) {
    throw error(fmt::format("{}: {}", request(), failure.what()));
  }
}

// Host memory running out inside the bookkeeping (a node of a free list) would throw
// from here and terminate, as any allocator's noexcept free does.
void stream_ordered_resource::deallocate(void* pointer, std::size_t bytes, stream_view stream,
                                         std::size_t alignment) noexcept {
  if (bytes == 0 && pointer == detail::zero_size_pointer(alignment)) return;
  const detail::free_outcome outcome = pool_->deallocate(pointer, bytes, stream);
  if (outcome.problem == detail::bad_free::none) return;

  report_refused_free(
      outcome, pointer, bytes, alignment,
      fmt::format("deallocate({}, {}, {})", pointer, format_bytes(bytes), to_string(stream)));
}

void stream_ordered_resource::deallocate_by_pointer(void* pointer) noexcept {
  // allocate(0)'s pointers are powers of two, which a block may also start at: only one
  // outside the reservation is taken for one.
  if (detail::is_zero_size_pointer(pointer) && !pool_->in_reservation(pointer)) return;
  const detail::free_outcome outcome = pool_->deallocate_by_pointer(pointer);
  if (outcome.problem == detail::bad_free::none) return;
  report_refused_free(outcome, pointer, 0, default_alignment,
                      fmt::format("deallocate_by_pointer({})", pointer));
}

bool stream_ordered_resource::holds(const void* pointer) const noexcept {
  return pool_->in_reservation(pointer);
}

std::optional<stream_ordered_resource::live_allocation> stream_ordered_resource::allocation_at(
    const void* pointer) const {
  const auto found = pool_->live_block_at(pointer);
  if (!found) return std::nullopt;
  return live_allocation{found->first, found->second};
}

void stream_ordered_resource::report_refused_free(const detail::free_outcome& outcome,
                                                  void* pointer, std::size_t bytes,
                                                  std::size_t alignment,
                                                  const std::string& call) const noexcept {
  try {
    detail::pointer_fault fault = fault_of(outcome.problem);
    std::optional<allocation_info> holder;
    std::string reason;
    if (outcome.problem == detail::bad_free::unknown_pointer) {
      holder = mapping_registry::global().find(pointer);
      if (holder && holder->owner != this) {
        fault = detail::pointer_fault::wrong_owner;
      } else if (bytes == 0 && detail::is_zero_size_pointer(pointer)) {
        reason = detail::zero_size_alignment_mismatch(pointer, alignment);
      }
    }
    if (reason.empty()) {
      reason = detail::describe(fault, pointer, bytes,
                                fault == detail::pointer_fault::wrong_owner ? &*holder : nullptr);
    }
    std::string held;
    if (outcome.block_base != 0) {
      held = outcome.block_requested != 0
                 ? fmt::format(" (live block {:#x} of {})", outcome.block_base,
                               format_bytes(outcome.block_requested))
                 : fmt::format(" (free block {:#x})", outcome.block_base);
    }
    detail::report_bad_deallocation(
        options_.memory, {pointer, bytes,
                          fmt::format("stream_ordered_resource on {}: {} ignored: {}{}",
                                      device_label(resolved_.device), call, reason, held)});
  } catch (...) {
    // deallocate is noexcept: a failing report must not escape.
  }
}

std::size_t stream_ordered_resource::trim(std::size_t bytes_to_keep) {
  return pool_->trim(bytes_to_keep);
}

void stream_ordered_resource::settle(stream_view stream) { pool_->wait_for_stream(stream); }

std::size_t stream_ordered_resource::sleep(sleep_contents contents) {
  std::function<void()> before_sleep;
  {
    std::lock_guard lock(hooks_mutex_);
    before_sleep = before_sleep_;
  }
  return pool_->sleep(contents == sleep_contents::keep, before_sleep);
}

void stream_ordered_resource::wake() {
  std::function<void()> after_wake;
  {
    std::lock_guard lock(hooks_mutex_);
    after_wake = after_wake_;
  }
  pool_->wake(after_wake);
}

void stream_ordered_resource::set_sleep_hooks(std::function<void()> before_sleep,
                                              std::function<void()> after_wake) {
  std::lock_guard lock(hooks_mutex_);
  before_sleep_ = std::move(before_sleep);
  after_wake_ = std::move(after_wake);
}

bool stream_ordered_resource::asleep() const { return pool_->asleep(); }

stream_ordered_stats stream_ordered_resource::stats() const { return pool_->stats(); }

std::vector<stream_usage> stream_ordered_resource::stream_stats() const {
  return pool_->stream_stats();
}

std::string stream_ordered_resource::check_invariants() const { return pool_->check_invariants(); }

void* stream_ordered_resource::do_allocate(std::size_t bytes, std::size_t alignment) {
  return allocate(bytes, options_.stream, alignment);
}

void stream_ordered_resource::do_deallocate(void* pointer, std::size_t bytes,
                                            std::size_t alignment) {
  deallocate(pointer, bytes, options_.stream, alignment);
}

bool stream_ordered_resource::do_is_equal(const std::pmr::memory_resource& other) const noexcept {
  if (this == &other) return true;
  const auto* view = dynamic_cast<const stream_bound_resource*>(&other);
  return view != nullptr && &view->resource() == this && view->stream() == options_.stream;
}

void* stream_bound_resource::do_allocate(std::size_t bytes, std::size_t alignment) {
  return resource_->allocate(bytes, stream_, alignment);
}

void stream_bound_resource::do_deallocate(void* pointer, std::size_t bytes, std::size_t alignment) {
  resource_->deallocate(pointer, bytes, stream_, alignment);
}

bool stream_bound_resource::do_is_equal(const std::pmr::memory_resource& other) const noexcept {
  if (this == &other) return true;
  if (const auto* view = dynamic_cast<const stream_bound_resource*>(&other)) {
    return view->resource_ == resource_ && view->stream_ == stream_;
  }
  return &other == resource_ && stream_ == resource_->stream();
}

}  // namespace vmm_pmr
