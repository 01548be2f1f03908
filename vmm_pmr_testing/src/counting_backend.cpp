#include "vmm_pmr/testing/counting_backend.hpp"

namespace vmm_pmr::testing {

live_objects counting_backend::live() const {
  std::lock_guard lock(mutex_);
  live_objects counts;
  counts.physical_allocations = physical_.size();
  for (const auto& [handle, bytes] : physical_) counts.physical_bytes += bytes;
  counts.reservations = reservations_.size();
  counts.mappings = mappings_.size();
  for (const auto& [base, bytes] : mappings_) counts.mapped_bytes += bytes;
  for (const auto& [memory, bytes] : pinned_) counts.pinned_host_bytes += bytes;
  return counts;
}

void* counting_backend::allocate_pinned_host(std::size_t bytes) {
  void* memory = forwarding_backend::allocate_pinned_host(bytes);
  std::lock_guard lock(mutex_);
  pinned_[memory] = bytes;
  return memory;
}

void counting_backend::free_pinned_host(void* memory, std::size_t bytes) {
  forwarding_backend::free_pinned_host(memory, bytes);
  std::lock_guard lock(mutex_);
  pinned_.erase(memory);
}

physical_handle counting_backend::create(std::size_t size, const physical_properties& props) {
  const physical_handle handle = forwarding_backend::create(size, props);
  std::lock_guard lock(mutex_);
  physical_[handle] = size;
  return handle;
}

void counting_backend::release(physical_handle handle) {
  // Forget the handle before the inner release: once released, another thread's create
  // may be given the same value (the host backend's handles are fds).
  std::size_t bytes = 0;
  {
    std::lock_guard lock(mutex_);
    auto it = physical_.find(handle);
    if (it != physical_.end()) {
      bytes = it->second;
      physical_.erase(it);
    }
  }
  try {
    forwarding_backend::release(handle);
  } catch (...) {
    std::lock_guard lock(mutex_);
    physical_.emplace(handle, bytes);
    throw;
  }
}

physical_handle counting_backend::import_handle(const shareable_handle& handle) {
  const physical_handle imported = forwarding_backend::import_handle(handle);
  std::lock_guard lock(mutex_);
  physical_[imported] = 0;
  return imported;
}

address counting_backend::reserve_address_range(std::size_t size, std::size_t alignment,
                                                address hint) {
  const address base = forwarding_backend::reserve_address_range(size, alignment, hint);
  std::lock_guard lock(mutex_);
  reservations_[base] = size;
  return base;
}

void counting_backend::free_address_range(address base, std::size_t size) {
  forwarding_backend::free_address_range(base, size);
  std::lock_guard lock(mutex_);
  reservations_.erase(base);
}

void counting_backend::map(address at, std::size_t size, std::size_t offset,
                           physical_handle handle) {
  forwarding_backend::map(at, size, offset, handle);
  std::lock_guard lock(mutex_);
  mappings_[at] = size;
}

void counting_backend::unmap(address at, std::size_t size) {
  forwarding_backend::unmap(at, size);
  // One unmap may cover several adjacent mappings.
  std::lock_guard lock(mutex_);
  mappings_.erase(mappings_.lower_bound(at), mappings_.lower_bound(at + size));
}

}  // namespace vmm_pmr::testing
