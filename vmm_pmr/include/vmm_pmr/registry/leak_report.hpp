// What a resource still held when it was destroyed (it has freed it by then).
#pragma once

#include <cstddef>
#include <vector>

#include "vmm_pmr/registry/allocation_info.hpp"

namespace vmm_pmr {

struct leak_report {
  const void* owner = nullptr;
  std::vector<allocation_info> leaked;
  std::size_t leaked_bytes = 0;  // requested bytes
};

}  // namespace vmm_pmr
