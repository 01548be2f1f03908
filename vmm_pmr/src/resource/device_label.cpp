#include "resource/device_label.hpp"

#include <fmt/format.h>

namespace vmm_pmr::detail {

std::string device_label(const device_attributes& device) {
  return fmt::format("device {} ({})", device.ordinal, device.name);
}

}  // namespace vmm_pmr::detail
