// The current memory resource of each device, like RMM's per-device resource map.
//
// Code that allocates device memory without being handed a resource asks
// current_device_resource(device). Nothing here touches
// std::pmr::get_default_resource() unless asked (pmr_default::replace), because
// that default serves host-side containers throughout the program.
#pragma once

#include <memory>
#include <memory_resource>

#include "vmm_pmr/resource/vmm_options.hpp"
#include "vmm_pmr/resource/vmm_resource.hpp"

namespace vmm_pmr {

// The resource set for `device`; when none was set, a vmm_resource with default
// options on the CUDA backend, made on first use (throws unavailable_error without
// a GPU, invalid_argument for an ordinal out of range).
std::pmr::memory_resource* current_device_resource(int device = 0);

// Sets `resource` (not owned; must outlive its use) as the current resource of
// `device` and returns the previous one. nullptr restores the default.
std::pmr::memory_resource* set_current_device_resource(int device,
                                                       std::pmr::memory_resource* resource);

enum class pmr_default : bool { leave, replace };

// The seed's use in one call: makes a vmm_resource for `options.device` on
// `backend` (CUDA when null), keeps it alive for the rest of the process, sets it as that
// device's current resource and, when asked, as std::pmr's default resource.
std::shared_ptr<vmm_resource> install_vmm_resource(vmm_options options = {},
                                                   pmr_default also = pmr_default::leave,
                                                   std::shared_ptr<backend> backend = nullptr);

}  // namespace vmm_pmr
