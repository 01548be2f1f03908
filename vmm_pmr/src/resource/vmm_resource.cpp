#include "vmm_pmr/resource/vmm_resource.hpp"

#include <fcntl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <iterator>
#include <limits>
#include <string>

#include "resource/zero_size_pointer.hpp"
#include "vmm_pmr/backend/cuda_backend.hpp"
#include "vmm_pmr/core/byte_size.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/handles/physical_memory.hpp"
#include "vmm_pmr/registry/allocation_stats_formatter.hpp"
#include "vmm_pmr/resource/vmm_options_formatter.hpp"

namespace vmm_pmr {
namespace {

std::string device_label(const device_attributes& device) {
  return fmt::format("device {} ({})", device.ordinal, device.name);
}

const char* describe(removal_status status) {
  switch (status) {
    case removal_status::removed:
      return "removed";
    case removal_status::unknown_pointer:
      return "pointer was not allocated by this resource";
    case removal_status::double_free:
      return "double free: pointer was already deallocated";
    case removal_status::wrong_owner:
      return "pointer belongs to another resource";
    case removal_status::interior_pointer:
      return "pointer is inside an allocation, not its start";
    case removal_status::wrong_size:
      return "size differs from the allocation's; it stays live";
  }
  return "unknown";
}

void print_bad_deallocation(const deallocation_error& error) {
  std::fprintf(stderr, "vmm_pmr: %s\n", error.message.c_str());
}

}  // namespace

vmm_resource::vmm_resource(vmm_options options)
    : vmm_resource(cuda_backend(), std::move(options)) {}

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
// silently not granted, a location the attributes do not cover, fabric memory without
// an IMEX channel): one granule made and released here turns them into a
// construction-time error.
void vmm_resource::probe_options() {
  try {
    probe(resolved_.properties);
  } catch (const driver_error& failure) {
    // Fabric handles need an IMEX channel that the device attribute does not reveal
    // (driver 580: CUDA_ERROR_NOT_PERMITTED). Asked for posix_fd too, the resource
    // carries on with posix_fd alone, as NCCL does; shareable() tells.
    constexpr handle_types both = handle_types::posix_fd | handle_types::fabric;
    if (contains(resolved_.properties.shareable, both)) {
      physical_properties without_fabric = resolved_.properties;
      without_fabric.shareable = handle_types::posix_fd;
      try {
        probe(without_fabric);
        resolved_.properties = without_fabric;
        return;
      } catch (const driver_error&) {
        // Not fabric's fault then: report the first refusal below.
      }
    }
    throw unsupported_error(fmt::format("options [{}] refused by {}: {}", options_,
                                        device_label(resolved_.device), failure.what()));
  }
}

void vmm_resource::probe(const physical_properties& properties) const {
  physical_memory granule(*backend_, resolved_.granularity, properties);
  if (options_.compression == compression::required &&
      !backend_->properties_of(granule.handle()).compressible) {
    throw unsupported_error(
        fmt::format("compression required: {} did not make a {} probe allocation compressible",
                    device_label(resolved_.device), format_bytes(resolved_.granularity)));
  }
}

void* vmm_resource::do_allocate(std::size_t bytes, std::size_t alignment) {
  return allocate_reserving(bytes, alignment, 0);
}

void* vmm_resource::allocate_with_address_space(std::size_t bytes, std::size_t address_space,
                                                std::size_t alignment) {
  return allocate_reserving(bytes, alignment, address_space);
}

void* vmm_resource::allocate_reserving(std::size_t bytes, std::size_t alignment,
                                       std::size_t address_space) {
  if (!is_power_of_two(alignment)) {
    throw invalid_argument(
        fmt::format("vmm_resource::allocate({}): alignment {} is not a power of two",
                    format_bytes(bytes), alignment));
  }
  if (bytes == 0) return detail::zero_size_pointer(alignment);
  const std::optional<std::size_t> rounded = round_up(bytes, resolved_.granularity);
  if (!rounded) {
    throw out_of_memory(fmt::format(
        "vmm_resource: cannot allocate {} on {}: the size overflows when rounded up to the {} "
        "granularity",
        format_bytes(bytes), device_label(resolved_.device), format_bytes(resolved_.granularity)));
  }
  const std::size_t reservation_alignment = std::max(alignment, resolved_.reservation_alignment);
  const std::optional<std::size_t> reserved = round_up(address_space, resolved_.granularity);
  if (!reserved) {
    throw out_of_memory(fmt::format(
        "vmm_resource: cannot reserve {} of address space on {}: the size overflows when rounded "
        "up to the {} granularity",
        format_bytes(address_space), device_label(resolved_.device),
        format_bytes(resolved_.granularity)));
  }

  try {
    vmm_allocation allocation =
        vmm_allocation::build(*backend_, *rounded, reservation_alignment, resolved_.properties,
                              resolved_.access, std::max(*rounded, *reserved));
    bool compressed = false;
    if (resolved_.properties.compressible) {
      compressed =
          backend_->properties_of(allocation.chunks().front().memory.handle()).compressible;
      if (!compressed && options_.compression == compression::required) {
        throw unsupported_error(fmt::format(
            "vmm_resource::allocate({}): {} did not grant compressible memory (compression "
            "required)",
            format_bytes(bytes), device_label(resolved_.device)));
      }
    }
    const address base = registry_.add(this, std::move(allocation),
                                       {.requested_bytes = bytes,
                                        .alignment = alignment,
                                        .location = resolved_.properties.location,
                                        .compressed = compressed,
                                        .imported = false});
    return reinterpret_cast<void*>(base);
  } catch (const out_of_memory&) {
    rethrow_with_request(allocation_request(bytes, alignment));
  } catch (const driver_error&) {
    rethrow_with_request(allocation_request(bytes, alignment));
  }
}

std::string vmm_resource::allocation_request(std::size_t bytes, std::size_t alignment) const {
  return fmt::format("vmm_resource::allocate({}, alignment {}) on {}", format_bytes(bytes),
                     alignment, device_label(resolved_.device));
}

// Adds what was asked, where, and what the resource holds to the backend's message.
void vmm_resource::rethrow_with_request(const std::string& request) const {
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
  if (bytes == 0 && pointer == detail::zero_size_pointer(alignment)) return;
  removal outcome = registry_.remove(this, pointer, bytes);
  if (outcome.status != removal_status::removed) {
    report_bad_deallocation(pointer, bytes, alignment, outcome);
  }
  // outcome.allocation, if any, is unmapped and released here, outside the lock.
}

void vmm_resource::report_bad_deallocation(const void* pointer, std::size_t bytes,
                                           std::size_t alignment, const removal& outcome) {
  // Unknown to the registry: a zero-size pointer given another alignment than allocate's.
  const bool zero_size_mismatch = bytes == 0 && outcome.status == removal_status::unknown_pointer &&
                                  detail::is_zero_size_pointer(pointer);
  const std::string reason = zero_size_mismatch
                                 ? detail::zero_size_alignment_mismatch(pointer, alignment)
                                 : describe(outcome.status);
  std::string held;
  if (outcome.found) {
    held = fmt::format(" (allocation {:#x}, {}, #{})", outcome.found->base,
                       format_bytes(outcome.found->requested_bytes), outcome.found->sequence);
  }
  deallocation_error error{
      pointer, bytes,
      fmt::format("vmm_resource on {}: deallocate({}, {}) ignored: {}{}",
                  device_label(resolved_.device), pointer, format_bytes(bytes), reason, held)};
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

std::vector<allocation_info> vmm_resource::live_allocations() const { return registry_.live(this); }

std::optional<allocation_info> vmm_resource::find(const void* pointer) const {
  std::optional<allocation_info> info = registry_.find(pointer);
  if (info && info->owner != this) return std::nullopt;
  return info;
}

void vmm_resource::with_own_allocation(
    const void* pointer, bool interior_allowed, std::string_view operation,
    const std::function<void(const allocation_info&)>& function) const {
  const auto at = reinterpret_cast<address>(pointer);
  std::string problem;
  const bool live = registry_.with_allocation_containing(pointer, [&](const allocation_info& info) {
    if (info.owner != this) {
      problem = fmt::format("it belongs to another resource (allocation {:#x}, {})", info.base,
                            format_bytes(info.requested_bytes));
    } else if (!interior_allowed && info.base != at) {
      problem = fmt::format(
          "it is an interior pointer, {} B into the allocation at {:#x}; pass "
          "the allocation's start",
          at - info.base, info.base);
    } else {
      function(info);
    }
  });
  if (!live) problem = "unknown pointer: no live allocation holds it";
  if (!problem.empty()) {
    throw invalid_argument(fmt::format("vmm_resource::{}({}) on {}: {}", operation, pointer,
                                       device_label(resolved_.device), problem));
  }
}

exported_allocation vmm_resource::export_allocation(const void* pointer,
                                                    handle_types preferred) const {
  const std::string request =
      fmt::format("vmm_resource::export_allocation({}, preferred {}) on {}", pointer,
                  to_string(preferred), device_label(resolved_.device));
  if (preferred != handle_types::posix_fd && preferred != handle_types::fabric) {
    throw invalid_argument(request +
                           ": preferred must be exactly one handle type, posix_fd or fabric");
  }
  const handle_types carried = shareable();
  if (carried == handle_types::none) {
    throw unsupported_error(request +
                            ": this resource's allocations carry no shareable handle type; set "
                            "vmm_options::shareable (e.g. handle_types::posix_fd) when "
                            "constructing the resource");
  }
  const handle_types other =
      preferred == handle_types::fabric ? handle_types::posix_fd : handle_types::fabric;
  const handle_types first_choice = contains(carried, preferred) ? preferred : other;

  exported_allocation exported;
  try {
    with_own_allocation(pointer, false, "export_allocation", [&](const allocation_info& info) {
      if (info.imported) {
        throw unsupported_error(
            request +
            ": the allocation was imported; imported allocations are not exported again. "
            "Forward the exported_allocation it was imported from (its fds stay valid)");
      }
      try {
        exported = export_chunks(info, first_choice);
      } catch (const driver_error&) {
        // NCCL's fallback: a refused fabric export is retried as posix_fd.
        if (first_choice != handle_types::fabric || !contains(carried, handle_types::posix_fd)) {
          throw;
        }
        exported = export_chunks(info, handle_types::posix_fd);
      }
    });
  } catch (const out_of_memory&) {
    rethrow_with_request(request);
  } catch (const driver_error&) {
    rethrow_with_request(request);
  }
  return exported;
}

exported_allocation vmm_resource::export_chunks(const allocation_info& allocation,
                                                handle_types type) const {
  exported_allocation exported;
  shared_allocation_descriptor& descriptor = exported.descriptor;
  descriptor.handle_type = type;
  descriptor.granularity = resolved_.granularity;
  descriptor.requested_bytes = allocation.requested_bytes;
  descriptor.chunk_sizes.reserve(allocation.chunks.size());
  // Reserved up front: once the driver has made an fd, nothing may throw before a
  // unique_fd owns it.
  exported.fds.reserve(type == handle_types::posix_fd ? allocation.chunks.size() : 0);
  descriptor.fabric_handles.reserve(type == handle_types::fabric ? allocation.chunks.size() : 0);
  for (const chunk_info& chunk : allocation.chunks) {
    descriptor.chunk_sizes.push_back(chunk.size);
    const shareable_handle handle = backend_->export_handle(chunk.handle, type);
    if (type == handle_types::posix_fd) {
      exported.fds.emplace_back(handle.fd);
      // Like every fd the library hands out: not inherited by programs this process
      // starts (the host backend's are already; the driver's may not be).
      fcntl(handle.fd, F_SETFD, fcntl(handle.fd, F_GETFD) | FD_CLOEXEC);
    } else {
      auto& fabric = descriptor.fabric_handles.emplace_back();
      std::copy(std::begin(handle.fabric), std::end(handle.fabric), fabric.begin());
    }
  }
  return exported;
}

void* vmm_resource::import_allocation(const exported_allocation& shared) {
  const shared_allocation_descriptor& descriptor = shared.descriptor;
  const std::string request = fmt::format(
      "vmm_resource::import_allocation({} {} chunk{}, {}) on {}", descriptor.chunk_sizes.size(),
      to_string(descriptor.handle_type), descriptor.chunk_sizes.size() == 1 ? "" : "s",
      format_bytes(descriptor.mapped_bytes()), device_label(resolved_.device));
  try {
    descriptor.validate();
  } catch (const invalid_argument& inconsistent) {
    throw invalid_argument(request + ": " + inconsistent.what());
  }

  const bool posix_fd = descriptor.handle_type == handle_types::posix_fd;
  const device_attributes& device = resolved_.device;
  if (posix_fd ? !device.posix_fd_handles : !device.fabric_handles) {
    throw unsupported_error(fmt::format("{}: {} cannot import {} handles", request,
                                        device_label(device), to_string(descriptor.handle_type)));
  }
  const std::size_t expected_fds = posix_fd ? descriptor.chunk_sizes.size() : 0;
  if (shared.fds.size() != expected_fds) {
    throw invalid_argument(fmt::format("{}: {} fds for {} {} chunks (expected {})", request,
                                       shared.fds.size(), descriptor.chunk_sizes.size(),
                                       to_string(descriptor.handle_type), expected_fds));
  }
  for (std::size_t i = 0; i < shared.fds.size(); ++i) {
    // A closed fd would reach the driver as whatever fd number is reused next.
    const int fd = shared.fds[i].get();
    if (fd < 0 || fcntl(fd, F_GETFD) < 0) {
      throw invalid_argument(fmt::format(
          "{}: the fd of chunk {} ({}) is not an open file descriptor", request, i, fd));
    }
  }
  const std::size_t minimum =
      backend_->granularity(resolved_.properties, granularity_kind::minimum);
  if (descriptor.granularity % minimum != 0) {
    throw invalid_argument(fmt::format(
        "{}: the exporter's granularity ({}) is not a multiple of {}'s minimum granularity ({}), "
        "so its chunks cannot be mapped here",
        request, format_bytes(descriptor.granularity), device_label(device),
        format_bytes(minimum)));
  }

  std::vector<shareable_handle> handles(descriptor.chunk_sizes.size());
  for (std::size_t i = 0; i < handles.size(); ++i) {
    handles[i].type = descriptor.handle_type;
    if (posix_fd) {
      handles[i].fd = shared.fds[i].get();
    } else {
      std::copy(descriptor.fabric_handles[i].begin(), descriptor.fabric_handles[i].end(),
                handles[i].fabric);
    }
  }

  try {
    vmm_allocation allocation =
        vmm_allocation::import(*backend_, handles, descriptor.chunk_sizes,
                               resolved_.reservation_alignment, resolved_.access);
    physical_properties imported{.location = resolved_.properties.location};
    try {
      imported = backend_->properties_of(allocation.chunks().front().memory.handle());
    } catch (const driver_error&) {
      // Only informational (find().location): the memory is mapped and usable anyway.
    }
    const address base = registry_.add(this, std::move(allocation),
                                       {.requested_bytes = descriptor.requested_bytes,
                                        .alignment = resolved_.reservation_alignment,
                                        .location = imported.location,
                                        .compressed = imported.compressible,
                                        .imported = true});
    return reinterpret_cast<void*>(base);
  } catch (const out_of_memory&) {
    rethrow_with_request(request);
  } catch (const driver_error&) {
    rethrow_with_request(request);
  }
}

resize_outcome vmm_resource::resize_own(const std::string& request, void* pointer,
                                        std::size_t bytes, const change_builder& build) {
  resize_outcome outcome = registry_.resize(this, pointer, bytes, build);
  std::string problem;
  const allocation_info* found = outcome.found ? &*outcome.found : nullptr;
  switch (outcome.status) {
    case resize_status::resized:
      return outcome;
    case resize_status::unknown_pointer:
      problem = "unknown pointer: no live allocation holds it";
      break;
    case resize_status::wrong_owner:
      problem = "it belongs to another resource";
      break;
    case resize_status::interior_pointer:
      problem = fmt::format("it is an interior pointer, {} B into the allocation at {:#x}",
                            reinterpret_cast<address>(pointer) - found->base, found->base);
      break;
    case resize_status::wrong_size:
      problem = fmt::format("the allocation at {} is {} large, not {}", pointer,
                            format_bytes(found->requested_bytes), format_bytes(bytes));
      break;
    case resize_status::changed_meanwhile:
      problem = "another thread freed or resized the allocation meanwhile";
      break;
  }
  throw invalid_argument(request + ": " + problem);
}

void* vmm_resource::grow(void* pointer, std::size_t bytes, std::size_t new_bytes,
                         stream_view stream, std::size_t address_space) {
  const std::string request =
      fmt::format("vmm_resource::grow({}, {} to {}) on {}", pointer, format_bytes(bytes),
                  format_bytes(new_bytes), device_label(resolved_.device));
  if (new_bytes < bytes) {
    throw invalid_argument(request +
                           ": the new size is smaller; shrink() makes allocations smaller");
  }
  if (bytes == 0) {
    throw invalid_argument(request +
                           ": a zero-byte allocation has no memory to grow; allocate instead");
  }
  const std::optional<std::size_t> rounded = round_up(new_bytes, resolved_.granularity);
  const std::optional<std::size_t> space = round_up(address_space, resolved_.granularity);
  if (!rounded || !space) {
    throw out_of_memory(fmt::format("{}: the size overflows when rounded up to the {} granularity",
                                    request, format_bytes(resolved_.granularity)));
  }
  try {
    const resize_outcome outcome = resize_own(
        request, pointer, bytes,
        [&](const allocation_info& info, const vmm_allocation& allocation) {
          if (info.imported) {
            throw unsupported_error(request +
                                    ": the allocation was imported from another process; only "
                                    "the exporter's allocation can grow");
          }
          allocation_change change;
          change.requested_bytes = new_bytes;
          const std::size_t mapped = allocation.mapped_bytes();
          const std::size_t reserved = allocation.reserved_bytes();
          const std::size_t map_bytes = *rounded > mapped ? *rounded - mapped : 0;
          const std::size_t wanted_reserved = std::max(*rounded, *space);
          const std::size_t reserve_bytes =
              wanted_reserved > reserved ? wanted_reserved - reserved : 0;
          if (map_bytes == 0 && reserve_bytes == 0) return change;  // already mapped

          vmm_allocation extension = allocation.build_extension(
              *backend_, map_bytes, reserve_bytes, resolved_.properties, resolved_.access);
          if (!extension.empty()) {
            change.kind = allocation_change_kind::append;
            change.pieces = std::move(extension);
            return change;
          }
          // The address behind is taken: map everything again elsewhere, with room to
          // grow (address space is cheap; moving again is not).
          std::size_t relocated = wanted_reserved;
          if (relocated <= std::numeric_limits<std::size_t>::max() / 2) relocated *= 2;
          relocated = std::max(relocated, reserved);
          const std::size_t alignment = std::max(info.alignment, resolved_.reservation_alignment);
          change.kind = allocation_change_kind::relocate;
          change.pieces = allocation.build_relocation(*backend_, map_bytes, relocated, alignment,
                                                      resolved_.properties, resolved_.access);
          // Kernels on the stream may still use the old addresses, which go next.
          backend_->synchronize_stream(stream);
          return change;
        });
    // Returning destroys outcome.leftover (the old mappings and reservations after a
    // move) outside the registry's lock.
    return reinterpret_cast<void*>(outcome.base);
  } catch (const out_of_memory&) {
    rethrow_with_request(request);
  } catch (const driver_error&) {
    rethrow_with_request(request);
  }
}

std::size_t vmm_resource::shrink(void* pointer, std::size_t bytes, std::size_t new_bytes,
                                 stream_view stream) {
  const std::string request =
      fmt::format("vmm_resource::shrink({}, {} to {}) on {}", pointer, format_bytes(bytes),
                  format_bytes(new_bytes), device_label(resolved_.device));
  if (new_bytes > bytes) {
    throw invalid_argument(request + ": the new size is larger; grow() makes allocations larger");
  }
  if (new_bytes == 0) {
    throw invalid_argument(request + ": shrinking to 0 bytes is deallocate()");
  }
  const std::size_t kept_bytes = *round_up(new_bytes, resolved_.granularity);  // <= bytes
  std::size_t released = 0;
  try {
    const resize_outcome outcome = resize_own(
        request, pointer, bytes, [&](const allocation_info&, const vmm_allocation& allocation) {
          allocation_change change;
          change.requested_bytes = new_bytes;
          std::size_t kept = 0;
          std::size_t chunks_kept = 0;
          for (const mapped_chunk& chunk : allocation.chunks()) {
            if (kept >= kept_bytes) break;
            kept += chunk.map.size();
            ++chunks_kept;
          }
          if (chunks_kept == allocation.chunks().size()) return change;
          change.kind = allocation_change_kind::split_tail;
          change.chunks_kept = chunks_kept;
          released = allocation.mapped_bytes() - kept;
          // Kernels on the stream may still use the tail, which is unmapped next.
          backend_->synchronize_stream(stream);
          return change;
        });
    // outcome.leftover (the tail) is unmapped and released here, outside the lock.
  } catch (const driver_error&) {
    rethrow_with_request(request);
  }
  return released;
}

void vmm_resource::check_accessor(int device, std::string_view operation) const {
  if (device == access_grant::host_cpu) return;
  const int count = backend_->device_count();
  if (device < 0 || device >= count) {
    throw invalid_argument(fmt::format(
        "vmm_resource::{}: device {} does not exist: the {} backend has {} device{} (the host "
        "CPU is access_grant::host_cpu, {})",
        operation, device, backend_->name(), count, count == 1 ? "" : "s", access_grant::host_cpu));
  }
}

void vmm_resource::set_access(const void* pointer, std::span<const access_grant> grants) {
  for (std::size_t i = 0; i < grants.size(); ++i) {
    check_accessor(grants[i].device, "set_access");
    for (std::size_t j = 0; j < i; ++j) {
      if (grants[j].device == grants[i].device) {
        throw invalid_argument(fmt::format("vmm_resource::set_access: {} is named twice",
                                           grants[i].device == access_grant::host_cpu
                                               ? std::string("the host CPU")
                                               : fmt::format("device {}", grants[i].device)));
      }
    }
  }
  try {
    with_own_allocation(pointer, false, "set_access", [&](const allocation_info& info) {
      const bool host_memory = info.location.kind != location_kind::device;
      for (const access_grant& grant : grants) {
        if (grant.device == access_grant::host_cpu && !host_memory) {
          throw invalid_argument(fmt::format(
              "vmm_resource::set_access({}): the host CPU cannot be granted access to memory at "
              "location {}",
              pointer, to_string(info.location)));
        }
      }
      if (grants.empty()) return;
      // One call per contiguous run of chunks, the driver's cost being per call; a run
      // ends at a reservation's end too (a grown allocation has several reservations).
      const auto reservation_end = [&](address at) {
        for (const reservation_info& reservation : info.reservations) {
          if (at >= reservation.base && at < reservation.base + reservation.size) {
            return reservation.base + reservation.size;
          }
        }
        return at;
      };
      std::size_t run = 0;
      while (run < info.chunks.size()) {
        std::size_t end = run + 1;
        address run_end = info.chunks[run].base + info.chunks[run].size;
        const address run_limit = reservation_end(info.chunks[run].base);
        while (end < info.chunks.size() && info.chunks[end].base == run_end &&
               run_end < run_limit) {
          run_end += info.chunks[end].size;
          ++end;
        }
        backend_->set_access(info.chunks[run].base, run_end - info.chunks[run].base, grants);
        run = end;
      }
    });
  } catch (const out_of_memory&) {
    rethrow_with_request(
        fmt::format("vmm_resource::set_access({}) on {}", pointer, device_label(resolved_.device)));
  } catch (const driver_error&) {
    rethrow_with_request(
        fmt::format("vmm_resource::set_access({}) on {}", pointer, device_label(resolved_.device)));
  }
}

access_mode vmm_resource::access(const void* pointer, int device) const {
  check_accessor(device, "access");
  access_mode mode = access_mode::none;
  with_own_allocation(pointer, true, "access", [&](const allocation_info& info) {
    // The CPU is never granted device memory; the driver need not be asked.
    if (device == access_grant::host_cpu && info.location.kind == location_kind::device) return;
    mode = backend_->get_access(reinterpret_cast<address>(pointer), device);
  });
  return mode;
}

}  // namespace vmm_pmr
