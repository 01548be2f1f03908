// How every resource names its device in messages: "device 0 (NVIDIA H100 80GB HBM3)".
#pragma once

#include <string>

#include "vmm_pmr/backend/backend.hpp"

namespace vmm_pmr::detail {

std::string device_label(const device_attributes& device);

}  // namespace vmm_pmr::detail
