#include "vmm_pmr/physical_memory.hpp"

#include <fmt/format.h>

#include <utility>

#include "vmm_pmr/byte_size.hpp"
#include "vmm_pmr/cleanup_errors.hpp"

namespace vmm_pmr {

physical_memory::physical_memory(backend& owner, std::size_t size,
                                 const physical_properties& props)
    : backend_(&owner), handle_(owner.create(size, props)), size_(size) {}

physical_memory physical_memory::adopt(backend& owner, physical_handle handle, std::size_t size) {
  physical_memory memory;
  memory.backend_ = &owner;
  memory.handle_ = handle;
  memory.size_ = size;
  return memory;
}

physical_memory::physical_memory(physical_memory&& other) noexcept
    : backend_(std::exchange(other.backend_, nullptr)),
      handle_(std::exchange(other.handle_, 0)),
      size_(std::exchange(other.size_, 0)) {}

physical_memory& physical_memory::operator=(physical_memory&& other) noexcept {
  if (this != &other) {
    reset();
    backend_ = std::exchange(other.backend_, nullptr);
    handle_ = std::exchange(other.handle_, 0);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

physical_memory::~physical_memory() { reset(); }

void physical_memory::reset() noexcept {
  if (backend_ == nullptr) return;
  try {
    backend_->release(handle_);
  } catch (const std::exception& failure) {
    report_cleanup_error(
        fmt::format("release physical memory #{} ({})", handle_, format_bytes(size_)), failure);
  }
  backend_ = nullptr;
}

}  // namespace vmm_pmr
