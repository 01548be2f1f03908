// The process's device pools (device_pools.cpp), as the tagged pools and the hooks see them.
#pragma once

#include "c_options.hpp"
#include "pool.hpp"

namespace vmm_pmr::c_interface {

inline constexpr int max_devices = 64;

// The options of VMM_PMR_CONF, read once; throws invalid_argument when they are refused.
pool_configuration device_pool_configuration();
// The untagged pool of `device` if it was made already, else null. No lock.
vmm_pmr_pool* existing_device_pool(int device) noexcept;

}  // namespace vmm_pmr::c_interface
