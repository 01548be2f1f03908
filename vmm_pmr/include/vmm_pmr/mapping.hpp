// RAII: one mapping of physical memory into a reservation (cuMemMap), unmapped on
// destruction.
//
// Invariant: a non-empty mapping covers [base, base + size) with bytes
// [offset, offset + size) of one physical allocation. Access is granted separately
// (set_access), because the driver grants it best once per contiguous run of
// mappings, not once per mapping.
#pragma once

#include <cstddef>

#include "vmm_pmr/backend.hpp"
#include "vmm_pmr/physical_memory.hpp"

namespace vmm_pmr {

class mapping {
 public:
  mapping() = default;
  mapping(backend& owner, address at, const physical_memory& memory, std::size_t offset,
          std::size_t size);

  mapping(const mapping&) = delete;
  mapping& operator=(const mapping&) = delete;
  mapping(mapping&& other) noexcept;
  mapping& operator=(mapping&& other) noexcept;
  ~mapping();

  explicit operator bool() const noexcept { return backend_ != nullptr; }
  address base() const noexcept { return base_; }
  std::size_t size() const noexcept { return size_; }
  address end() const noexcept { return base_ + size_; }

 private:
  void reset() noexcept;

  backend* backend_ = nullptr;
  address base_ = 0;
  std::size_t size_ = 0;
};

}  // namespace vmm_pmr
