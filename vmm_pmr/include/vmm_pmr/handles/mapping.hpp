// RAII: one mapping of physical memory into a reservation (cuMemMap), unmapped on
// destruction.
//
// Invariant: a non-empty mapping covers [base, base + size) with bytes
// [offset, offset + size) of one physical allocation. Access is granted separately
// (set_access), because the driver grants it best once per contiguous run of
// mappings, not once per mapping.
#pragma once

#include <cstddef>

#include "vmm_pmr/backend/backend.hpp"
#include "vmm_pmr/handles/detail/owned_backend_object.hpp"
#include "vmm_pmr/handles/detail/undo_functions.hpp"
#include "vmm_pmr/handles/physical_memory.hpp"

namespace vmm_pmr {

class mapping {
 public:
  mapping() = default;
  mapping(backend& owner, address at, const physical_memory& memory, std::size_t offset,
          std::size_t size)
      : mapping(owner, at, memory.handle(), offset, size) {}
  // A second mapping of memory that another object holds (the physical memory lives on
  // until its last mapping is gone, whatever releases it first).
  mapping(backend& owner, address at, physical_handle handle, std::size_t offset,
          std::size_t size) {
    owner.map(at, size, offset, handle);
    object_ = {owner, at, size};
  }

  explicit operator bool() const noexcept { return static_cast<bool>(object_); }
  address base() const noexcept { return object_.key(); }
  std::size_t size() const noexcept { return object_.size(); }
  address end() const noexcept { return base() + size(); }

 private:
  detail::owned_backend_object<&detail::unmap> object_;
};

}  // namespace vmm_pmr
