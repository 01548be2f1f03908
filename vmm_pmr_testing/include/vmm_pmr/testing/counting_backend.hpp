// Test double: a backend decorator that counts live driver objects.
//
// Leak checks compare live() before and after an operation: physical allocations
// (created or imported, not yet released), address reservations, mappings and pinned host
// memory. Only
// calls that succeed change the counts.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>

#include "vmm_pmr/backend/forwarding_backend.hpp"

namespace vmm_pmr::testing {

struct live_objects {
  std::size_t physical_allocations = 0;
  std::size_t physical_bytes = 0;
  std::size_t reservations = 0;
  std::size_t mappings = 0;
  std::size_t mapped_bytes = 0;
  std::size_t pinned_host_bytes = 0;
  friend bool operator==(const live_objects&, const live_objects&) = default;
};

class counting_backend final : public forwarding_backend {
 public:
  using forwarding_backend::forwarding_backend;

  live_objects live() const;

  physical_handle create(std::size_t size, const physical_properties& props) override;
  void release(physical_handle handle) override;
  address reserve_address_range(std::size_t size, std::size_t alignment, address hint) override;
  void free_address_range(address base, std::size_t size) override;
  void map(address at, std::size_t size, std::size_t offset, physical_handle handle) override;
  void unmap(address at, std::size_t size) override;
  physical_handle import_handle(const shareable_handle& handle) override;
  void* allocate_pinned_host(std::size_t bytes) override;
  void free_pinned_host(void* memory, std::size_t bytes) override;

 private:
  mutable std::mutex mutex_;
  std::map<physical_handle, std::size_t> physical_;  // handle -> bytes (0 when imported)
  std::map<address, std::size_t> reservations_;
  std::map<address, std::size_t> mappings_;
  std::map<void*, std::size_t> pinned_;
};

}  // namespace vmm_pmr::testing
