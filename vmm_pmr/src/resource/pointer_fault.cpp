#include "resource/pointer_fault.hpp"

#include <fmt/format.h>

#include "vmm_pmr/core/byte_size.hpp"

namespace vmm_pmr::detail {

pointer_fault fault_of(removal_status status) noexcept {
  switch (status) {
    case removal_status::double_free:
      return pointer_fault::double_free;
    case removal_status::wrong_owner:
      return pointer_fault::wrong_owner;
    case removal_status::interior_pointer:
      return pointer_fault::interior_pointer;
    case removal_status::wrong_size:
      return pointer_fault::wrong_size;
    case removal_status::removed:
    case removal_status::unknown_pointer:
      break;
  }
  return pointer_fault::unknown_pointer;
}

pointer_fault fault_of(resize_status status) noexcept {
  switch (status) {
    case resize_status::wrong_owner:
      return pointer_fault::wrong_owner;
    case resize_status::interior_pointer:
      return pointer_fault::interior_pointer;
    case resize_status::wrong_size:
      return pointer_fault::wrong_size;
    case resize_status::changed_meanwhile:
      return pointer_fault::changed_meanwhile;
    case resize_status::resized:
    case resize_status::unknown_pointer:
      break;
  }
  return pointer_fault::unknown_pointer;
}

std::string_view describe(pointer_fault fault) noexcept {
  switch (fault) {
    case pointer_fault::unknown_pointer:
      return "unknown pointer: pointer was not allocated by this resource";
    case pointer_fault::double_free:
      return "double free: pointer was already deallocated";
    case pointer_fault::wrong_owner:
      return "pointer belongs to another resource";
    case pointer_fault::interior_pointer:
      return "interior pointer: pointer is inside an allocation, not its start";
    case pointer_fault::wrong_size:
      return "size differs from the allocation's; it stays live";
    case pointer_fault::changed_meanwhile:
      return "another thread freed or resized the allocation meanwhile";
    case pointer_fault::inside_free_block:
      return "pointer is inside free memory: a double free (of a block since merged with its "
             "free neighbours) or a stale pointer";
    case pointer_fault::unmapped_pointer:
      return "pointer is in this resource's reservation where nothing is mapped: a stale "
             "pointer (its chunk was released)";
  }
  return "unknown fault";
}

std::string describe(pointer_fault fault, const void* pointer, std::size_t bytes,
                     const allocation_info* found) {
  if (found == nullptr) return std::string(describe(fault));
  const auto at = reinterpret_cast<address>(pointer);
  switch (fault) {
    case pointer_fault::interior_pointer:
      return fmt::format("{} ({} B into allocation {:#x}, {}, #{})", describe(fault),
                         at - found->base, found->base, format_bytes(found->requested_bytes),
                         found->sequence);
    case pointer_fault::wrong_size:
      return fmt::format("{} (allocation {:#x}, #{}, is {} large, not {})", describe(fault),
                         found->base, found->sequence, format_bytes(found->requested_bytes),
                         format_bytes(bytes));
    default:
      return fmt::format("{} (allocation {:#x}, {}, #{})", describe(fault), found->base,
                         format_bytes(found->requested_bytes), found->sequence);
  }
}

}  // namespace vmm_pmr::detail
