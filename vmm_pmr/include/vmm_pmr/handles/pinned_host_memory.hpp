// RAII: one block of page-locked host memory (cuMemHostAlloc; ordinary memory on the host
// backend), freed on destruction: what the device copies to and from at full speed.
//
// Invariant: a non-empty object owns exactly one backend allocation, freed exactly once;
// moved-from objects are empty. The backend must outlive it.
#pragma once

#include <cstddef>
#include <utility>

#include "vmm_pmr/backend/backend.hpp"

namespace vmm_pmr {

class pinned_host_memory {
 public:
  pinned_host_memory() = default;
  // Throws out_of_memory when the host has no page-locked memory to give.
  pinned_host_memory(backend& owner, std::size_t bytes)
      : backend_(&owner), data_(owner.allocate_pinned_host(bytes)), size_(bytes) {}

  pinned_host_memory(const pinned_host_memory&) = delete;
  pinned_host_memory& operator=(const pinned_host_memory&) = delete;
  pinned_host_memory(pinned_host_memory&& other) noexcept
      : backend_(std::exchange(other.backend_, nullptr)),
        data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)) {}
  pinned_host_memory& operator=(pinned_host_memory&& other) noexcept {
    if (this != &other) {
      reset();
      backend_ = std::exchange(other.backend_, nullptr);
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  ~pinned_host_memory() { reset(); }

  explicit operator bool() const noexcept { return data_ != nullptr; }
  void* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }

 private:
  // Reports a failure through report_cleanup_error; never throws.
  void reset() noexcept;

  backend* backend_ = nullptr;
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace vmm_pmr
