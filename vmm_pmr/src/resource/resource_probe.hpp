// The construction-time probe both resources run: one granule made and released with the
// resolved properties, so that refusals only the driver can tell (managed memory,
// compression that is silently not granted, a location the attributes do not cover,
// fabric memory without an IMEX channel) fail at construction, not in the middle of a
// workload.
#pragma once

#include "vmm_pmr/backend/backend.hpp"
#include "vmm_pmr/resource/detail/resolved_options.hpp"
#include "vmm_pmr/resource/vmm_options.hpp"

namespace vmm_pmr::detail {

// The properties allocations are made with: `resolved.properties`, less fabric when the
// driver refuses fabric memory and `options` asked for posix_fd too (as NCCL does).
// Throws unsupported_error naming the options and the device when the driver refuses.
physical_properties probe_options(backend& owner, const vmm_options& options,
                                  const resolved_options& resolved);

}  // namespace vmm_pmr::detail
