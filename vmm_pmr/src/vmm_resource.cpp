#include "vmm_pmr/vmm_resource.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>

#include "vmm_pmr/byte_size.hpp"
#include "vmm_pmr/cuda_backend.hpp"
#include "vmm_pmr/error.hpp"
#include "vmm_pmr/formatters.hpp"
#include "vmm_pmr/physical_memory.hpp"

namespace vmm_pmr {
namespace {

std::string device_label(const device_attributes& device) {
  return fmt::format("device {} ({})", device.ordinal, device.name);
}

const char* describe(removal_status status) {
  switch (status) {
    case removal_status::removed: return "removed";
    case removal_status::unknown_pointer: return "pointer was not allocated by this resource";
    case removal_status::double_free: return "double free: pointer was already deallocated";
    case removal_status::wrong_owner: return "pointer belongs to another resource";
    case removal_status::interior_pointer: return "pointer is inside an allocation, not its start";
    case removal_status::wrong_size: return "size differs from the allocation's; it stays live";
  }
  return "unknown";
}

// std::pmr's allocate() may not return nullptr (libstdc++ marks it returns_nonnull),
// so a zero-byte request gets a non-null, aligned pointer that maps nothing: the
// alignment's value, which is in the never-mapped first pages for alignments below
// 64 KiB (Linux's mmap_min_addr). It must not be dereferenced.
void* zero_size_pointer(std::size_t alignment) {
  return reinterpret_cast<void*>(std::max(alignment, alignof(std::max_align_t)));
}

void print_bad_deallocation(const deallocation_error& error) {
  std::fprintf(stderr, "vmm_pmr: %s\n", error.message.c_str());
}

}  // namespace

vmm_resource::vmm_resource(vmm_options options) : vmm_resource(cuda_backend(), std::move(options)) {}

vmm_resource::vmm_resource(std::shared_ptr<backend> backend, vmm_options options)
    : backend_(std::move(backend)),
      options_(std::move(options)),
      resolved_(resolve_options(options_, *backend_)),
      registry_(mapping_registry::global()) {
  if (!options_.on_bad_deallocation) options_.on_bad_deallocation = print_bad_deallocation;
  if (!options_.on_leak) {
    options_.on_leak = [label = device_label(resolved_.device)](const leak_report& report) {
      std::fprintf(stderr,
                   "vmm_pmr: vmm_resource on %s destroyed with %zu live allocation%s (%s); "
                   "freed them\n",
                   label.c_str(), report.leaked.size(), report.leaked.size() == 1 ? "" : "s",
                   format_bytes(report.leaked_bytes).c_str());
    };
  }
  probe_options();
}

vmm_resource::~vmm_resource() {
  auto [allocations, report] = registry_.release_all(this);
  allocations.clear();  // unmap and release, outside the registry's lock
  if (!report.leaked.empty()) {
    try {
      options_.on_leak(report);
    } catch (...) {
      // A throwing leak handler must not escape a destructor.
    }
  }
}

// Some refusals only the driver can tell (managed memory, compression that is
// silently not granted, a location the attributes do not cover): one granule made
// and released here turns them into a construction-time error.
void vmm_resource::probe_options() {
  try {
    physical_memory probe(*backend_, resolved_.granularity, resolved_.properties);
    if (options_.compression == compression::required &&
        !backend_->properties_of(probe.handle()).compressible) {
      throw unsupported_error(fmt::format(
          "compression required: {} did not make a {} probe allocation compressible",
          device_label(resolved_.device), format_bytes(resolved_.granularity)));
    }
  } catch (const driver_error& failure) {
    throw unsupported_error(fmt::format("options [{}] refused by {}: {}", options_,
                                        device_label(resolved_.device), failure.what()));
  }
}

void* vmm_resource::do_allocate(std::size_t bytes, std::size_t alignment) {
  if (!is_power_of_two(alignment)) {
    throw invalid_argument(fmt::format("vmm_resource::allocate({}): alignment {} is not a power of two",
                                       format_bytes(bytes), alignment));
  }
  if (bytes == 0) return zero_size_pointer(alignment);
  const std::optional<std::size_t> rounded = round_up(bytes, resolved_.granularity);
  if (!rounded) {
    throw out_of_memory(fmt::format(
        "vmm_resource: cannot allocate {} on {}: the size overflows when rounded up to the {} "
        "granularity",
        format_bytes(bytes), device_label(resolved_.device), format_bytes(resolved_.granularity)));
  }
  const std::size_t reservation_alignment = std::max(alignment, resolved_.reservation_alignment);

  try {
    vmm_allocation allocation = vmm_allocation::build(*backend_, *rounded, reservation_alignment,
                                                      resolved_.properties, resolved_.access);
    bool compressed = false;
    if (resolved_.properties.compressible) {
      compressed = backend_->properties_of(allocation.chunks().front().memory.handle()).compressible;
      if (!compressed && options_.compression == compression::required) {
        throw unsupported_error(fmt::format(
            "vmm_resource::allocate({}): {} did not grant compressible memory (compression "
            "required)",
            format_bytes(bytes), device_label(resolved_.device)));
      }
    }
    const address base = registry_.add(
        this, std::move(allocation),
        {.requested_bytes = bytes,
         .alignment = alignment,
         .location = resolved_.properties.location,
         .compressed = compressed,
         .imported = false});
    return reinterpret_cast<void*>(base);
  } catch (const out_of_memory&) {
    rethrow_allocation_failure(bytes, alignment);
  } catch (const driver_error&) {
    rethrow_allocation_failure(bytes, alignment);
  }
}

// Adds what was asked, where, and what the resource holds to the backend's message.
void vmm_resource::rethrow_allocation_failure(std::size_t bytes, std::size_t alignment) const {
  const std::string request =
      fmt::format("vmm_resource::allocate({}, alignment {}) on {}", format_bytes(bytes), alignment,
                  device_label(resolved_.device));
  try {
    throw;
  } catch (const out_of_memory& failure) {
    throw out_of_memory(fmt::format("{}: out of memory ({}); this resource holds {}", request,
                                    failure.what(), stats()));
  } catch (const driver_error& failure) {
    throw driver_error(failure.call(), failure.result_name(), failure.result_code(),
                       failure.detail().empty() ? request : failure.detail() + "; in " + request);
  }
  throw;  // only ever called from the handlers above
}

void vmm_resource::do_deallocate(void* pointer, std::size_t bytes, std::size_t alignment) {
  if (bytes == 0 && pointer == zero_size_pointer(alignment)) return;
  removal outcome = registry_.remove(this, pointer, bytes);
  if (outcome.status != removal_status::removed) report_bad_deallocation(pointer, bytes, outcome);
  // outcome.allocation, if any, is unmapped and released here, outside the lock.
}

void vmm_resource::report_bad_deallocation(const void* pointer, std::size_t bytes,
                                           const removal& outcome) {
  std::string held;
  if (outcome.found) {
    held = fmt::format(" (allocation {:#x}, {}, #{})", outcome.found->base,
                       format_bytes(outcome.found->requested_bytes), outcome.found->sequence);
  }
  deallocation_error error{
      pointer, bytes,
      fmt::format("vmm_resource on {}: deallocate({}, {}) ignored: {}{}",
                  device_label(resolved_.device), pointer, format_bytes(bytes),
                  describe(outcome.status), held)};
  try {
    options_.on_bad_deallocation(error);
  } catch (...) {
    // deallocate is noexcept in spirit: a throwing handler must not escape.
  }
}

bool vmm_resource::do_is_equal(const std::pmr::memory_resource& other) const noexcept {
  return this == &other;
}

allocation_stats vmm_resource::stats() const { return registry_.stats(this); }

std::vector<allocation_info> vmm_resource::live_allocations() const {
  return registry_.live(this);
}

std::optional<allocation_info> vmm_resource::find(const void* pointer) const {
  std::optional<allocation_info> info = registry_.find(pointer);
  if (info && info->owner != this) return std::nullopt;
  return info;
}

}  // namespace vmm_pmr
