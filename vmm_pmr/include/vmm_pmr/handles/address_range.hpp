// RAII: one address reservation (cuMemAddressReserve / a PROT_NONE mmap).
//
// Invariant: a non-empty address_range owns exactly one (base, size) reservation and
// frees exactly that range once. Two reservations are never merged, even when they
// are adjacent: the driver can only free each one as it was reserved.
#pragma once

#include <cstddef>

#include "vmm_pmr/backend/backend.hpp"
#include "vmm_pmr/handles/detail/owned_backend_object.hpp"
#include "vmm_pmr/handles/detail/undo_functions.hpp"

namespace vmm_pmr {

class address_range {
 public:
  address_range() = default;
  // `alignment` 0: the backend's granularity. A nonzero `hint` is only a wish; check
  // base() when the address matters.
  address_range(backend& owner, std::size_t size, std::size_t alignment = 0, address hint = 0)
      : object_(owner, owner.reserve_address_range(size, alignment, hint), size) {}

  explicit operator bool() const noexcept { return static_cast<bool>(object_); }
  address base() const noexcept { return object_.key(); }
  std::size_t size() const noexcept { return object_.size(); }
  address end() const noexcept { return base() + size(); }
  bool contains(address at) const noexcept { return at >= base() && at < end(); }

 private:
  detail::owned_backend_object<&detail::free_address_range> object_;
};

}  // namespace vmm_pmr
