#include "vmm_pmr/resource/vmm_resource.hpp"

#include <fcntl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <limits>
#include <string>

#include "resource/device_label.hpp"
#include "resource/pointer_fault.hpp"
#include "resource/resource_probe.hpp"
#include "resource/resource_reports.hpp"
#include "resource/zero_size_pointer.hpp"
#include "vmm_pmr/backend/cuda_backend.hpp"
#include "vmm_pmr/core/byte_size.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/handles/physical_memory.hpp"
#include "vmm_pmr/registry/allocation_stats_formatter.hpp"
#include "vmm_pmr/registry/mapping_registry.hpp"
#include "vmm_pmr/resource/vmm_options_formatter.hpp"

namespace vmm_pmr {
namespace {

using detail::device_label;

// Runs a registry resize of `owner`'s allocation; invalid_argument naming `request` and
// the fault when the pointer or size is wrong.
detail::resize_outcome resize_own(mapping_registry& registry, const void* owner,
                                  const std::string& request, void* pointer, std::size_t bytes,
                                  const detail::change_builder& build) {
  detail::resize_outcome outcome = registry.resize(owner, pointer, bytes, build);
  if (outcome.status == detail::resize_status::resized) return outcome;
  throw invalid_argument(request + ": " +
                         detail::describe(detail::fault_of(outcome.status), pointer, bytes,
                                          outcome.found ? &*outcome.found : nullptr));
}

}  // namespace

vmm_resource::vmm_resource(vmm_options options)
    : vmm_resource(cuda_backend(), std::move(options)) {}

vmm_resource::vmm_resource(std::shared_ptr<backend> backend, vmm_options options)
    : backend_(std::move(backend)),
      options_(std::move(options)),
      resolved_(detail::resolve_options(options_, *backend_)),
      registry_(mapping_registry::global()) {
  detail::install_default_reports(options_, "vmm_resource", resolved_.device);
  resolved_.properties = detail::probe_options(*backend_, options_, resolved_);
}

vmm_resource::~vmm_resource() {
  auto [allocations, report] = registry_.release_all(this);
  allocations.clear();  // unmap and release, outside the registry's lock
  if (!report.leaked.empty()) detail::report_leak(options_, report);
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
  detail::removal outcome = registry_.remove(this, pointer, bytes);
  if (outcome.status != detail::removal_status::removed) {
    // Unknown to the registry: a zero-size pointer given another alignment than allocate's.
    const bool zero_size_mismatch = bytes == 0 &&
                                    outcome.status == detail::removal_status::unknown_pointer &&
                                    detail::is_zero_size_pointer(pointer);
    const std::string reason =
        zero_size_mismatch ? detail::zero_size_alignment_mismatch(pointer, alignment)
                           : detail::describe(detail::fault_of(outcome.status), pointer, bytes,
                                              outcome.found ? &*outcome.found : nullptr);
    detail::report_bad_deallocation(
        options_,
        {pointer, bytes,
         fmt::format("vmm_resource on {}: deallocate({}, {}) ignored: {}",
                     device_label(resolved_.device), pointer, format_bytes(bytes), reason)});
  }
  // outcome.allocation, if any, is unmapped and released here, outside the lock.
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
  std::string problem;
  const bool live = registry_.with_allocation_containing(pointer, [&](const allocation_info& info) {
    if (info.owner != this) {
      problem = detail::describe(detail::pointer_fault::wrong_owner, pointer, 0, &info);
    } else if (!interior_allowed && info.base != reinterpret_cast<address>(pointer)) {
      problem = detail::describe(detail::pointer_fault::interior_pointer, pointer, 0, &info);
    } else {
      function(info);
    }
  });
  if (!live) problem = detail::describe(detail::pointer_fault::unknown_pointer);
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
    const detail::resize_outcome outcome = resize_own(
        registry_, this, request, pointer, bytes,
        [&](const allocation_info& info, const vmm_allocation& allocation) {
          if (info.imported) {
            throw unsupported_error(request +
                                    ": the allocation was imported from another process; only "
                                    "the exporter's allocation can grow");
          }
          detail::allocation_change change;
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
            change.kind = detail::allocation_change_kind::append;
            change.pieces = std::move(extension);
            return change;
          }
          // The address behind is taken: map everything again elsewhere, with room to
          // grow (address space is cheap; moving again is not).
          std::size_t relocated = wanted_reserved;
          if (relocated <= std::numeric_limits<std::size_t>::max() / 2) relocated *= 2;
          relocated = std::max(relocated, reserved);
          const std::size_t alignment = std::max(info.alignment, resolved_.reservation_alignment);
          change.kind = detail::allocation_change_kind::relocate;
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
    const detail::resize_outcome outcome =
        resize_own(registry_, this, request, pointer, bytes,
                   [&](const allocation_info&, const vmm_allocation& allocation) {
                     detail::allocation_change change;
                     change.requested_bytes = new_bytes;
                     std::size_t kept = 0;
                     std::size_t chunks_kept = 0;
                     for (const mapped_chunk& chunk : allocation.chunks()) {
                       if (kept >= kept_bytes) break;
                       kept += chunk.map.size();
                       ++chunks_kept;
                     }
                     if (chunks_kept == allocation.chunks().size()) return change;
                     change.kind = detail::allocation_change_kind::split_tail;
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
