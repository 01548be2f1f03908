#include "vmm_pmr/testing/fault_injecting_backend.hpp"

#include <fmt/format.h>

#include "vmm_pmr/core/error.hpp"

namespace vmm_pmr::testing {

const char* to_string(backend_call call) noexcept {
  switch (call) {
    case backend_call::create:
      return "create";
    case backend_call::release:
      return "release";
    case backend_call::reserve_address_range:
      return "reserve_address_range";
    case backend_call::free_address_range:
      return "free_address_range";
    case backend_call::map:
      return "map";
    case backend_call::unmap:
      return "unmap";
    case backend_call::set_access:
      return "set_access";
    case backend_call::export_handle:
      return "export_handle";
    case backend_call::import_handle:
      return "import_handle";
  }
  return "unknown";
}

void fault_injecting_backend::fail_nth(backend_call call, std::size_t n, injected_failure failure) {
  std::lock_guard lock(mutex_);
  armed_ = armed_failure{call, n, failure};
  fired_call_.reset();
}

void fault_injecting_backend::fail_nth_call(std::size_t n, injected_failure failure) {
  std::lock_guard lock(mutex_);
  armed_ = armed_failure{std::nullopt, n, failure};
  fired_call_.reset();
}

void fault_injecting_backend::disarm() {
  std::lock_guard lock(mutex_);
  armed_.reset();
}

bool fault_injecting_backend::fired() const {
  std::lock_guard lock(mutex_);
  return fired_call_.has_value();
}

std::optional<backend_call> fault_injecting_backend::fired_call() const {
  std::lock_guard lock(mutex_);
  return fired_call_;
}

std::size_t fault_injecting_backend::calls(backend_call call) const {
  std::lock_guard lock(mutex_);
  return calls_[static_cast<std::size_t>(call)];
}

std::size_t fault_injecting_backend::total_calls() const {
  std::lock_guard lock(mutex_);
  std::size_t total = 0;
  for (std::size_t count : calls_) total += count;
  return total;
}

void fault_injecting_backend::before(backend_call call) {
  std::lock_guard lock(mutex_);
  ++calls_[static_cast<std::size_t>(call)];
  if (!armed_ || (armed_->call && *armed_->call != call)) return;
  if (--armed_->remaining != 0) return;
  const injected_failure failure = armed_->failure;
  armed_.reset();
  fired_call_ = call;
  if (failure == injected_failure::out_of_memory) {
    throw out_of_memory(fmt::format("injected out of memory in {}", to_string(call)));
  }
  throw driver_error(fmt::format("{} (injected)", to_string(call)), "INJECTED_FAILURE", -1);
}

physical_handle fault_injecting_backend::create(std::size_t size,
                                                const physical_properties& props) {
  before(backend_call::create);
  return forwarding_backend::create(size, props);
}
void fault_injecting_backend::release(physical_handle handle) {
  before(backend_call::release);
  forwarding_backend::release(handle);
}
address fault_injecting_backend::reserve_address_range(std::size_t size, std::size_t alignment,
                                                       address hint) {
  before(backend_call::reserve_address_range);
  return forwarding_backend::reserve_address_range(size, alignment, hint);
}
void fault_injecting_backend::free_address_range(address base, std::size_t size) {
  before(backend_call::free_address_range);
  forwarding_backend::free_address_range(base, size);
}
void fault_injecting_backend::map(address at, std::size_t size, std::size_t offset,
                                  physical_handle handle) {
  before(backend_call::map);
  forwarding_backend::map(at, size, offset, handle);
}
void fault_injecting_backend::unmap(address at, std::size_t size) {
  before(backend_call::unmap);
  forwarding_backend::unmap(at, size);
}
void fault_injecting_backend::set_access(address at, std::size_t size,
                                         std::span<const access_grant> grants) {
  before(backend_call::set_access);
  forwarding_backend::set_access(at, size, grants);
}
shareable_handle fault_injecting_backend::export_handle(physical_handle handle, handle_types type) {
  before(backend_call::export_handle);
  return forwarding_backend::export_handle(handle, type);
}
physical_handle fault_injecting_backend::import_handle(const shareable_handle& handle) {
  before(backend_call::import_handle);
  return forwarding_backend::import_handle(handle);
}

}  // namespace vmm_pmr::testing
