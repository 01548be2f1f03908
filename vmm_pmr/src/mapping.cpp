#include "vmm_pmr/mapping.hpp"

#include <fmt/format.h>

#include <utility>

#include "vmm_pmr/byte_size.hpp"
#include "vmm_pmr/cleanup_errors.hpp"

namespace vmm_pmr {

mapping::mapping(backend& owner, address at, const physical_memory& memory, std::size_t offset,
                 std::size_t size) {
  owner.map(at, size, offset, memory.handle());
  backend_ = &owner;
  base_ = at;
  size_ = size;
}

mapping::mapping(mapping&& other) noexcept
    : backend_(std::exchange(other.backend_, nullptr)),
      base_(std::exchange(other.base_, 0)),
      size_(std::exchange(other.size_, 0)) {}

mapping& mapping::operator=(mapping&& other) noexcept {
  if (this != &other) {
    reset();
    backend_ = std::exchange(other.backend_, nullptr);
    base_ = std::exchange(other.base_, 0);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

mapping::~mapping() { reset(); }

void mapping::reset() noexcept {
  if (backend_ == nullptr) return;
  try {
    backend_->unmap(base_, size_);
  } catch (const std::exception& failure) {
    report_cleanup_error(fmt::format("unmap {:#x} ({})", base_, format_bytes(size_)), failure);
  }
  backend_ = nullptr;
}

}  // namespace vmm_pmr
