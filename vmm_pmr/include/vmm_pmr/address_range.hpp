// RAII: one address reservation (cuMemAddressReserve / a PROT_NONE mmap).
//
// Invariant: a non-empty address_range owns exactly one (base, size) reservation and
// frees exactly that range once. Two reservations are never merged, even when they
// are adjacent: the driver can only free each one as it was reserved.
#pragma once

#include <cstddef>

#include "vmm_pmr/backend.hpp"

namespace vmm_pmr {

class address_range {
 public:
  address_range() = default;
  // `alignment` 0: the backend's granularity. A nonzero `hint` is only a wish; check
  // base() when the address matters.
  address_range(backend& owner, std::size_t size, std::size_t alignment = 0, address hint = 0);

  address_range(const address_range&) = delete;
  address_range& operator=(const address_range&) = delete;
  address_range(address_range&& other) noexcept;
  address_range& operator=(address_range&& other) noexcept;
  ~address_range();

  explicit operator bool() const noexcept { return backend_ != nullptr; }
  address base() const noexcept { return base_; }
  std::size_t size() const noexcept { return size_; }
  address end() const noexcept { return base_ + size_; }
  bool contains(address at) const noexcept { return at >= base_ && at < end(); }

 private:
  void reset() noexcept;

  backend* backend_ = nullptr;
  address base_ = 0;
  std::size_t size_ = 0;
};

}  // namespace vmm_pmr
