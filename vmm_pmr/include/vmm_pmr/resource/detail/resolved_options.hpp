// vmm_options after validation against a device, in the form the resources allocate
// with. Both resources hold one; the benchmarks' raw-driver baselines resolve them too.
#pragma once

#include <cstddef>
#include <vector>

#include "vmm_pmr/backend/backend.hpp"
#include "vmm_pmr/core/access_grant.hpp"
#include "vmm_pmr/resource/vmm_options.hpp"

namespace vmm_pmr::detail {

// The options after validation, in the form allocate() uses.
struct resolved_options {
  physical_properties properties;
  std::size_t granularity = 0;
  std::size_t reservation_alignment = 0;
  std::vector<access_grant> access;
  device_attributes device;
};

// Checks `options` against `owner`'s device; throws invalid_argument for malformed
// options and unsupported_error for what the device cannot do.
resolved_options resolve_options(const vmm_options& options, const backend& owner);

}  // namespace vmm_pmr::detail
