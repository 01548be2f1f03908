// The registry's verdict on a remove(): the allocation, handed back to be destroyed
// outside the lock, or why nothing was removed.
#pragma once

#include <cstdint>
#include <optional>

#include "vmm_pmr/handles/vmm_allocation.hpp"
#include "vmm_pmr/registry/allocation_info.hpp"

namespace vmm_pmr::detail {

enum class removal_status : std::uint8_t {
  removed,
  unknown_pointer,   // never handed out by this registry (or long gone)
  double_free,       // recently removed by the same owner
  wrong_owner,       // live, but registered by another resource
  interior_pointer,  // inside a live allocation, not its base
  wrong_size,        // the base of a live allocation, with another size
};

struct removal {
  removal_status status = removal_status::unknown_pointer;
  vmm_allocation allocation;             // when removed: the caller destroys it
  std::optional<allocation_info> found;  // when not removed: the allocation involved, if any
};

}  // namespace vmm_pmr::detail
