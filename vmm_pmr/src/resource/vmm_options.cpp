// Validation of vmm_options against a device's attributes.
#include "vmm_pmr/resource/vmm_options.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "resource/device_label.hpp"
#include "vmm_pmr/core/byte_size.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/resource/detail/resolved_options.hpp"
#include "vmm_pmr/resource/vmm_options_formatter.hpp"

namespace vmm_pmr {
namespace {

using detail::device_label;

std::string supported_handle_types(const device_attributes& device) {
  std::vector<std::string> names{"none"};
  if (device.posix_fd_handles) names.emplace_back("posix_fd");
  if (device.fabric_handles) names.emplace_back("fabric");
  return fmt::format("{}", fmt::join(names, ", "));
}

void check_ordinal(int ordinal, const backend& owner, const char* what) {
  const int count = owner.device_count();
  if (ordinal < 0 || ordinal >= count) {
    throw invalid_argument(fmt::format("{} {} does not exist: the {} backend has {} device{}", what,
                                       ordinal, owner.name(), count, count == 1 ? "" : "s"));
  }
}

void check_location(const memory_location& location, const device_attributes& device,
                    const backend& owner) {
  switch (location.kind) {
    case location_kind::device:
      check_ordinal(location.id, owner, "location: device");
      return;
    case location_kind::host:
      if (!device.host_location_vmm) {
        throw unsupported_error(
            fmt::format("location host: {} does not support host-location VMM allocations",
                        device_label(device)));
      }
      return;
    case location_kind::host_numa:
    case location_kind::host_numa_current:
      if (!device.host_numa_location_vmm) {
        throw unsupported_error(fmt::format(
            "location {}: {} does not support host-NUMA VMM allocations (its host NUMA id is {})",
            to_string(location), device_label(device), device.host_numa_id));
      }
      if (location.kind == location_kind::host_numa && location.id < 0) {
        throw invalid_argument(
            fmt::format("location host_numa: node {} is not a NUMA node id", location.id));
      }
      return;
  }
}

void check_shareable(handle_types wanted, const memory_location& location,
                     const device_attributes& device) {
  if (wanted != handle_types::none && location.kind == location_kind::host &&
      !device.host_location_shareable) {
    throw unsupported_error(fmt::format(
        "shareable {}: host-location memory cannot carry shareable handle types on {} (use "
        "location host_numa for shareable host memory)",
        to_string(wanted), device_label(device)));
  }
  if (contains(wanted, handle_types::posix_fd) && !device.posix_fd_handles) {
    throw unsupported_error(
        fmt::format("shareable posix_fd: {} does not export POSIX file descriptors (supported: {})",
                    device_label(device), supported_handle_types(device)));
  }
  if (contains(wanted, handle_types::fabric) && !device.fabric_handles) {
    throw unsupported_error(
        fmt::format("shareable fabric: {} does not export fabric handles (supported: {})",
                    device_label(device), supported_handle_types(device)));
  }
}

bool is_host_memory(const memory_location& location) {
  return location.kind != location_kind::device;
}

std::vector<access_grant> resolve_access(const vmm_options& options,
                                         const memory_location& location, const backend& owner) {
  // Host memory is meant to be read by the host too: grant the CPU by default.
  if (options.access.empty() && is_host_memory(location)) {
    return {{access_grant::host_cpu, access_mode::read_write},
            {options.device, access_mode::read_write}};
  }
  if (options.access.empty()) return {{options.device, access_mode::read_write}};
  std::vector<access_grant> access = options.access;
  for (const access_grant& grant : access) {
    if (grant.device == access_grant::host_cpu) {
      if (!is_host_memory(location)) {
        throw invalid_argument(
            fmt::format("access: the host CPU cannot be granted access to memory at location {}",
                        to_string(location)));
      }
      continue;
    }
    check_ordinal(grant.device, owner, "access: device");
  }
  std::sort(access.begin(), access.end(),
            [](const access_grant& a, const access_grant& b) { return a.device < b.device; });
  auto duplicate = std::adjacent_find(
      access.begin(), access.end(),
      [](const access_grant& a, const access_grant& b) { return a.device == b.device; });
  if (duplicate != access.end()) {
    throw invalid_argument(fmt::format("access: {} is listed more than once",
                                       duplicate->device == access_grant::host_cpu
                                           ? std::string("the host")
                                           : fmt::format("device {}", duplicate->device)));
  }
  return access;
}

std::size_t resolve_granularity(const granularity_choice& choice, const backend& owner,
                                const physical_properties& props) {
  const std::size_t minimum = owner.granularity(props, granularity_kind::minimum);
  switch (choice.choice) {
    case granularity_choice::kind::minimum:
      return minimum;
    case granularity_choice::kind::recommended:
      return std::max(minimum, owner.granularity(props, granularity_kind::recommended));
    case granularity_choice::kind::multiple:
      if (choice.bytes == 0 || choice.bytes % minimum != 0) {
        throw invalid_argument(
            fmt::format("granularity {}: must be a nonzero multiple of the minimum granularity {}",
                        format_bytes(choice.bytes), format_bytes(minimum)));
      }
      return choice.bytes;
  }
  return minimum;
}

}  // namespace

detail::resolved_options detail::resolve_options(const vmm_options& options, const backend& owner) {
  check_ordinal(options.device, owner, "device");
  resolved_options resolved;
  resolved.device = owner.attributes(options.device);
  const device_attributes& device = resolved.device;
  if (!device.vmm) {
    throw unsupported_error(
        fmt::format("{} does not support virtual memory management", device_label(device)));
  }

  physical_properties& props = resolved.properties;
  props.location = options.location.value_or(memory_location::on_device(options.device));
  check_location(props.location, device, owner);
  props.type = options.type;

  check_shareable(options.shareable, props.location, device);
  props.shareable = options.shareable;

  if (options.gpu_direct_rdma && !device.gpu_direct_rdma_with_vmm) {
    throw unsupported_error(fmt::format(
        "gpu_direct_rdma: {} does not support GPUDirect RDMA with VMM", device_label(device)));
  }
  props.gpu_direct_rdma = options.gpu_direct_rdma;

  if (options.compression == compression::required && !device.generic_compression) {
    throw unsupported_error(fmt::format(
        "compression required: {} does not support generic compression", device_label(device)));
  }
  props.compressible = options.compression != compression::none && device.generic_compression;

  resolved.access = resolve_access(options, props.location, owner);
  resolved.granularity = resolve_granularity(options.granularity, owner, props);

  if (options.reservation_alignment != 0 && !is_power_of_two(options.reservation_alignment)) {
    throw invalid_argument(fmt::format("reservation_alignment {} is not a power of two",
                                       options.reservation_alignment));
  }
  resolved.reservation_alignment = std::max(options.reservation_alignment, resolved.granularity);
  return resolved;
}

}  // namespace vmm_pmr

namespace vmm_pmr {

std::string to_string(const vmm_options& options) {
  std::string granularity;
  switch (options.granularity.choice) {
    case granularity_choice::kind::minimum:
      granularity = "minimum";
      break;
    case granularity_choice::kind::recommended:
      granularity = "recommended";
      break;
    case granularity_choice::kind::multiple:
      granularity = format_bytes(options.granularity.bytes);
      break;
  }
  std::vector<std::string> access;
  for (const access_grant& grant : options.access) {
    access.push_back(grant.device == access_grant::host_cpu
                         ? fmt::format("host: {}", to_string(grant.mode))
                         : fmt::format("device {}: {}", grant.device, to_string(grant.mode)));
  }
  return fmt::format(
      "device {}, location {}, {}, granularity {}, shareable {}, access [{}], rdma {}, "
      "compression {}",
      options.device,
      to_string(options.location.value_or(memory_location::on_device(options.device))),
      options.type == allocation_type::pinned ? "pinned" : "managed", granularity,
      to_string(options.shareable),
      access.empty() ? std::string("default") : fmt::format("{}", fmt::join(access, ", ")),
      options.gpu_direct_rdma ? "on" : "off",
      options.compression == compression::none        ? "none"
      : options.compression == compression::preferred ? "preferred"
                                                      : "required");
}

}  // namespace vmm_pmr

fmt::format_context::iterator fmt::formatter<vmm_pmr::vmm_options>::format(
    const vmm_pmr::vmm_options& options, fmt::format_context& ctx) const {
  return fmt::formatter<fmt::string_view>::format(vmm_pmr::to_string(options), ctx);
}
