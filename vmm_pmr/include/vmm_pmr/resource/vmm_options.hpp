// What a vmm_resource allocates: location, type, granularity, handles, access, flags.
//
// vmm_resource checks every option at construction against what the device
// supports (and with one probe allocation for what only the driver can tell), so
// an unsupported combination fails there, with a message naming the option, the
// device and what it supports, and never in the middle of a workload.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "vmm_pmr/backend/backend.hpp"
#include "vmm_pmr/core/access_grant.hpp"
#include "vmm_pmr/core/allocation_type.hpp"
#include "vmm_pmr/core/compression.hpp"
#include "vmm_pmr/core/handle_types.hpp"
#include "vmm_pmr/core/memory_location.hpp"
#include "vmm_pmr/registry/leak_report.hpp"
#include "vmm_pmr/resource/deallocation_error.hpp"

namespace vmm_pmr {

struct granularity_choice {
  enum class kind : std::uint8_t { minimum, recommended, multiple } choice = kind::recommended;
  std::size_t bytes = 0;  // for `multiple`: a multiple of the device's minimum granularity

  static constexpr granularity_choice minimum() { return {kind::minimum, 0}; }
  static constexpr granularity_choice recommended() { return {kind::recommended, 0}; }
  static constexpr granularity_choice multiple_of(std::size_t bytes) {
    return {kind::multiple, bytes};
  }
};

struct vmm_options {
  int device = 0;
  // nullopt: memory of `device`.
  std::optional<memory_location> location;
  allocation_type type = allocation_type::pinned;
  granularity_choice granularity = granularity_choice::recommended();
  handle_types shareable = handle_types::none;
  // Who may access the memory. Empty: read-write for `device` only.
  std::vector<access_grant> access;
  bool gpu_direct_rdma = false;
  vmm_pmr::compression compression = vmm_pmr::compression::none;
  // Alignment of every reservation; 0: the granularity. A power of two.
  std::size_t reservation_alignment = 0;

  // Called for each bad deallocation (foreign pointer, double free, wrong size).
  // Default: one line on stderr.
  std::function<void(const deallocation_error&)> on_bad_deallocation;
  // Called when the resource is destroyed with live allocations (after it has freed
  // them). Default: one summary line on stderr.
  std::function<void(const leak_report&)> on_leak;
};

// "device 0, location host, pinned, granularity recommended, ..." — also what fmt prints.
std::string to_string(const vmm_options& options);

}  // namespace vmm_pmr
