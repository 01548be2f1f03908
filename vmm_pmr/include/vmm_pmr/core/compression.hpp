// Whether allocations ask the driver for compressible memory.
#pragma once

#include <cstdint>

namespace vmm_pmr {

enum class compression : std::uint8_t {
  none,       // never ask for compressible memory
  preferred,  // ask; use what the driver grants (see allocation_info::compressed)
  required,   // ask; an allocation the driver does not make compressible is an error
};

}  // namespace vmm_pmr
