// What a resource says about an allocation it hands to mapping_registry::add.
#pragma once

#include <cstddef>

#include "vmm_pmr/core/memory_location.hpp"

namespace vmm_pmr::detail {

// What the caller says about an allocation it registers.
struct allocation_description {
  std::size_t requested_bytes = 0;
  std::size_t alignment = 0;
  memory_location location;
  bool compressed = false;
  bool imported = false;
  bool aliased = false;  // see allocation_info::aliased
};

}  // namespace vmm_pmr::detail
