// A resize of a live allocation: the change a resource builds (under the registry's
// shared lock) and the registry's verdict after applying it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>

#include "vmm_pmr/handles/vmm_allocation.hpp"
#include "vmm_pmr/registry/allocation_info.hpp"

namespace vmm_pmr::detail {

// What a resize does to a live allocation (vmm_allocation's growth halves).
enum class allocation_change_kind : std::uint8_t {
  none,        // only the requested size changes
  append,      // `pieces` (a reservation and/or a chunk) go behind the allocation
  relocate,    // `pieces` is the allocation's new layout (vmm_allocation::relocate)
  split_tail,  // the chunks from `chunks_kept` on leave the allocation
};

struct allocation_change {
  allocation_change_kind kind = allocation_change_kind::none;
  vmm_allocation pieces;
  std::size_t chunks_kept = 0;
  std::size_t requested_bytes = 0;  // the allocation's size from now on
};

enum class resize_status : std::uint8_t {
  resized,
  unknown_pointer,    // no live allocation holds it
  wrong_owner,        // live, but registered by another resource
  interior_pointer,   // inside a live allocation, not its base
  wrong_size,         // the base of a live allocation, with another size
  changed_meanwhile,  // freed or resized by another thread while the change was built
};

struct resize_outcome {
  resize_status status = resize_status::unknown_pointer;
  address base = 0;                      // when resized: where the allocation is now
  vmm_allocation leftover;               // for the caller to destroy, outside the lock
  std::optional<allocation_info> found;  // when not resized: the allocation involved, if any
};

using change_builder =
    std::function<allocation_change(const allocation_info&, const vmm_allocation&)>;

}  // namespace vmm_pmr::detail
