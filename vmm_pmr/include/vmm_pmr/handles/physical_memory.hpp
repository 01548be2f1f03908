// RAII: one physical allocation (cuMemCreate / a memfd), released on destruction.
//
// Invariant: a non-empty physical_memory owns exactly one backend handle, which is
// released exactly once. Moved-from objects are empty. The backend must outlive it.
#pragma once

#include <cstddef>

#include "vmm_pmr/backend/backend.hpp"
#include "vmm_pmr/handles/detail/owned_backend_object.hpp"
#include "vmm_pmr/handles/detail/undo_functions.hpp"

namespace vmm_pmr {

class physical_memory {
 public:
  physical_memory() = default;
  physical_memory(backend& owner, std::size_t size, const physical_properties& props)
      : object_(owner, owner.create(size, props), size) {}
  // Takes ownership of a handle the backend already made (an import).
  static physical_memory adopt(backend& owner, physical_handle handle, std::size_t size);

  explicit operator bool() const noexcept { return static_cast<bool>(object_); }
  physical_handle handle() const noexcept { return object_.key(); }
  std::size_t size() const noexcept { return object_.size(); }
  backend* owner() const noexcept { return object_.owner(); }

 private:
  detail::owned_backend_object<&detail::release_physical_memory> object_;
};

}  // namespace vmm_pmr
