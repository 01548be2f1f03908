// Test double: a backend decorator that fails the N-th call.
//
// Used to prove that every multi-step operation rolls back completely: run the
// operation once to count its calls, then fail each one in turn (as out of memory or
// as a generic driver error) and check that nothing is left behind. A failed call is
// not forwarded, so a failed undo (unmap, release) leaves its object alive, as a
// failing driver would.
#pragma once

#include <array>
#include <cstddef>
#include <mutex>
#include <optional>

#include "vmm_pmr/backend/forwarding_backend.hpp"

namespace vmm_pmr::testing {

// The primitives that change state, which are the ones worth failing.
enum class backend_call : std::uint8_t {
  create,
  release,
  reserve_address_range,
  free_address_range,
  map,
  unmap,
  set_access,
  export_handle,
  import_handle,
};
inline constexpr std::size_t backend_call_count = 9;
const char* to_string(backend_call call) noexcept;

enum class injected_failure : std::uint8_t { out_of_memory, driver_error };

class fault_injecting_backend final : public forwarding_backend {
 public:
  using forwarding_backend::forwarding_backend;

  // Fail the n-th call (1-based, counted from now) of `call`.
  void fail_nth(backend_call call, std::size_t n, injected_failure failure);
  // Fail the n-th state-changing call of any kind (1-based, counted from now).
  void fail_nth_call(std::size_t n, injected_failure failure);
  void disarm();
  bool fired() const;
  // The kind of call that failed since the last fail_nth*, if one did.
  std::optional<backend_call> fired_call() const;

  std::size_t calls(backend_call call) const;
  std::size_t total_calls() const;

  physical_handle create(std::size_t size, const physical_properties& props) override;
  void release(physical_handle handle) override;
  address reserve_address_range(std::size_t size, std::size_t alignment, address hint) override;
  void free_address_range(address base, std::size_t size) override;
  void map(address at, std::size_t size, std::size_t offset, physical_handle handle) override;
  void unmap(address at, std::size_t size) override;
  void set_access(address at, std::size_t size, std::span<const access_grant> grants) override;
  shareable_handle export_handle(physical_handle handle, handle_types type) override;
  physical_handle import_handle(const shareable_handle& handle) override;

 private:
  struct armed_failure {
    std::optional<backend_call> call;  // nullopt: any call
    std::size_t remaining;             // calls to let through, plus one
    injected_failure failure;
  };

  // Counts the call and throws if it is the one to fail.
  void before(backend_call call);

  mutable std::mutex mutex_;
  std::array<std::size_t, backend_call_count> calls_{};
  std::optional<armed_failure> armed_;
  std::optional<backend_call> fired_call_;
};

}  // namespace vmm_pmr::testing
