// RAII: one physical allocation (cuMemCreate / a memfd), released on destruction.
//
// Invariant: a non-empty physical_memory owns exactly one backend handle, which is
// released exactly once. Moved-from objects are empty. The backend must outlive it.
#pragma once

#include <cstddef>

#include "vmm_pmr/backend.hpp"

namespace vmm_pmr {

class physical_memory {
 public:
  physical_memory() = default;
  physical_memory(backend& owner, std::size_t size, const physical_properties& props);
  // Takes ownership of a handle the backend already made (an import).
  static physical_memory adopt(backend& owner, physical_handle handle, std::size_t size);

  physical_memory(const physical_memory&) = delete;
  physical_memory& operator=(const physical_memory&) = delete;
  physical_memory(physical_memory&& other) noexcept;
  physical_memory& operator=(physical_memory&& other) noexcept;
  ~physical_memory();

  explicit operator bool() const noexcept { return backend_ != nullptr; }
  physical_handle handle() const noexcept { return handle_; }
  std::size_t size() const noexcept { return size_; }
  backend* owner() const noexcept { return backend_; }

 private:
  void reset() noexcept;

  backend* backend_ = nullptr;
  physical_handle handle_ = 0;
  std::size_t size_ = 0;
};

}  // namespace vmm_pmr
