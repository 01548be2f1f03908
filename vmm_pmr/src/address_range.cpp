#include "vmm_pmr/address_range.hpp"

#include <fmt/format.h>

#include <utility>

#include "vmm_pmr/byte_size.hpp"
#include "vmm_pmr/cleanup_errors.hpp"

namespace vmm_pmr {

address_range::address_range(backend& owner, std::size_t size, std::size_t alignment,
                             address hint)
    : backend_(&owner), base_(owner.reserve_address_range(size, alignment, hint)), size_(size) {}

address_range::address_range(address_range&& other) noexcept
    : backend_(std::exchange(other.backend_, nullptr)),
      base_(std::exchange(other.base_, 0)),
      size_(std::exchange(other.size_, 0)) {}

address_range& address_range::operator=(address_range&& other) noexcept {
  if (this != &other) {
    reset();
    backend_ = std::exchange(other.backend_, nullptr);
    base_ = std::exchange(other.base_, 0);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

address_range::~address_range() { reset(); }

void address_range::reset() noexcept {
  if (backend_ == nullptr) return;
  try {
    backend_->free_address_range(base_, size_);
  } catch (const std::exception& failure) {
    report_cleanup_error(fmt::format("free address range {:#x} ({})", base_, format_bytes(size_)),
                         failure);
  }
  backend_ = nullptr;
}

}  // namespace vmm_pmr
