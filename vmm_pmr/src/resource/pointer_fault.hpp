// What is wrong with a pointer (and size) a caller handed to a resource, whichever
// structure found it out (the registry's remove or resize, the pool's free): one list of
// faults, one sentence each, so every call says the same thing about the same mistake.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "vmm_pmr/registry/allocation_info.hpp"
#include "vmm_pmr/registry/detail/removal.hpp"
#include "vmm_pmr/registry/detail/resize.hpp"

namespace vmm_pmr::detail {

enum class pointer_fault : std::uint8_t {
  unknown_pointer,    // no live allocation holds it
  double_free,        // freed already
  wrong_owner,        // live, but another resource's
  interior_pointer,   // inside a live allocation, not its start
  wrong_size,         // the start of a live allocation, with another size
  changed_meanwhile,  // freed or resized by another thread while a resize was built
  inside_free_block,  // stream_ordered_resource: in free memory of its pool
  unmapped_pointer,   // stream_ordered_resource: in its reservation, where nothing is mapped
};

// The registry's verdicts; neither is `removed` / `resized`.
pointer_fault fault_of(removal_status status) noexcept;
pointer_fault fault_of(resize_status status) noexcept;

std::string_view describe(pointer_fault fault) noexcept;

// describe(fault), followed by what was found at the pointer when there is a live
// allocation there: "(N B into allocation 0x…, 8 KiB, #3)" and the like. `bytes` is the
// size the caller gave.
std::string describe(pointer_fault fault, const void* pointer, std::size_t bytes,
                     const allocation_info* found);

}  // namespace vmm_pmr::detail
