// vmm_resource: a std::pmr::memory_resource in which every allocation is one VMM
// allocation (create → reserve → map → set access), undone on deallocate.
//
// Allocation sizes are rounded up to the granularity; any power-of-two alignment is
// honoured (beyond the granularity too, through the reservation's alignment). Each
// allocation is owned by the process-wide mapping_registry until it is deallocated
// or the resource is destroyed, which frees what is left and reports it as a leak.
//
// Policies, all documented in the README:
//   - allocate(0) makes no driver call and returns a non-null pointer that must not be
//     dereferenced (std::pmr forbids nullptr); deallocate(that pointer, 0) is a no-op.
//   - allocate() rolls back completely on failure: out_of_memory (a std::bad_alloc)
//     when the driver is out of memory or the size cannot be represented;
//     invalid_argument for a bad alignment; driver_error for other driver failures.
//   - deallocate() never throws (std::pmr calls it from noexcept destructors). A
//     foreign pointer, an interior pointer, a double free or a wrong size frees
//     nothing, is counted in stats().deallocation_errors and reported through
//     vmm_options::on_bad_deallocation. A wrong size keeps the allocation live: the
//     caller is confused about what it holds, and freeing could pull memory out from
//     under another user.
//   - Thread-safe; driver calls run outside any lock.
#pragma once

#include <memory>
#include <memory_resource>
#include <optional>
#include <vector>

#include "vmm_pmr/allocation_stats.hpp"
#include "vmm_pmr/backend.hpp"
#include "vmm_pmr/mapping_registry.hpp"
#include "vmm_pmr/vmm_options.hpp"

namespace vmm_pmr {

class vmm_resource final : public std::pmr::memory_resource {
 public:
  // On the CUDA backend (throws unavailable_error without a usable GPU).
  explicit vmm_resource(vmm_options options = {});
  vmm_resource(std::shared_ptr<backend> backend, vmm_options options = {});

  vmm_resource(const vmm_resource&) = delete;
  vmm_resource& operator=(const vmm_resource&) = delete;
  vmm_resource(vmm_resource&&) = delete;
  vmm_resource& operator=(vmm_resource&&) = delete;
  ~vmm_resource() override;

  const vmm_options& options() const noexcept { return options_; }
  const device_attributes& device() const noexcept { return resolved_.device; }
  std::size_t granularity() const noexcept { return resolved_.granularity; }
  backend& driver() const noexcept { return *backend_; }
  const std::shared_ptr<backend>& shared_backend() const noexcept { return backend_; }

  allocation_stats stats() const;
  std::vector<allocation_info> live_allocations() const;
  // The live allocation of this resource holding `pointer` (any interior pointer).
  std::optional<allocation_info> find(const void* pointer) const;

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void do_deallocate(void* pointer, std::size_t bytes, std::size_t alignment) override;
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override;

  [[noreturn]] void rethrow_allocation_failure(std::size_t bytes, std::size_t alignment) const;
  void report_bad_deallocation(const void* pointer, std::size_t bytes, const removal& outcome);
  void probe_options();

  std::shared_ptr<backend> backend_;
  vmm_options options_;
  resolved_options resolved_;
  mapping_registry& registry_;
};

}  // namespace vmm_pmr
