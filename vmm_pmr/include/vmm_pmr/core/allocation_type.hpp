// What kind of physical memory an allocation is: pinned, or managed (migrating).
#pragma once

#include <cstdint>

namespace vmm_pmr {

enum class allocation_type : std::uint8_t { pinned, managed };

}  // namespace vmm_pmr
