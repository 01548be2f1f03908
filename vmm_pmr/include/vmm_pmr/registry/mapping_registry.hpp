// The process-wide registry of live VMM allocations.
//
// Every allocation a resource makes is handed to the registry, which owns it until
// the resource deallocates it or is destroyed. It answers "which allocation (and
// which resource) holds this pointer" for any interior pointer in O(log n), keeps
// per-resource statistics, tells a double free from a foreign pointer, and on
// release_all() gives back everything a resource still holds, for the leak report.
//
// Invariant: the entries' address ranges never overlap (the backend hands out
// disjoint reservations), so the entry holding a pointer is the last one whose base
// is not above it. allocate and deallocate never call the driver under the registry's
// lock: allocations are moved in after they are built and moved out before they are
// destroyed. Operations on a live allocation that need the driver (export, set_access,
// the access query) run through with_allocation_containing(), under the shared lock,
// so the entry cannot be removed and its memory released meanwhile; they only delay
// add/remove, never each other. resize() (growth and shrinking) works the same way: the
// caller builds the new driver objects under the shared lock, and the registry only
// moves handles under the exclusive lock; what the change leaves over (old mappings,
// reservations, a released tail) is handed back to be destroyed outside the lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

#include "vmm_pmr/handles/vmm_allocation.hpp"
#include "vmm_pmr/registry/allocation_info.hpp"
#include "vmm_pmr/registry/allocation_stats.hpp"
#include "vmm_pmr/registry/detail/allocation_description.hpp"
#include "vmm_pmr/registry/detail/removal.hpp"
#include "vmm_pmr/registry/detail/resize.hpp"
#include "vmm_pmr/registry/leak_report.hpp"

namespace vmm_pmr {

class mapping_registry {
 public:
  // The process-wide instance. Never destroyed, so resources that outlive main()
  // (static objects) can still unregister.
  static mapping_registry& global();

  mapping_registry() = default;
  mapping_registry(const mapping_registry&) = delete;
  mapping_registry& operator=(const mapping_registry&) = delete;

  // Takes ownership; returns the allocation's base.
  address add(const void* owner, vmm_allocation allocation,
              const detail::allocation_description& description);
  detail::removal remove(const void* owner, const void* pointer, std::size_t bytes);

  // Changes the live allocation that `owner` registered at `pointer` with `bytes`
  // requested. `build` runs under the shared lock (the allocation stays live while it
  // calls the driver; it must not call back into this registry) and returns the change,
  // which is applied under the exclusive lock; the statistics follow. What `build`
  // throws propagates, and nothing changes then. Not resized: `build` is not called (or
  // its change is handed back as leftover when the allocation changed meanwhile).
  detail::resize_outcome resize(const void* owner, const void* pointer, std::size_t bytes,
                                const detail::change_builder& build);

  std::optional<allocation_info> find(const void* pointer) const;
  // Runs `function` on the live allocation holding `pointer` (any interior pointer)
  // while holding the shared lock, so the allocation stays live until it returns; false
  // (and no call) when no live allocation holds it. `function` may call the backend but
  // must not call back into this registry.
  bool with_allocation_containing(
      const void* pointer, const std::function<void(const allocation_info&)>& function) const;
  std::vector<allocation_info> live(const void* owner) const;
  allocation_stats stats(const void* owner) const;
  allocation_stats stats() const;  // all owners together

  // Moves out everything `owner` still holds, forgets the owner, and returns the
  // allocations (for the caller to destroy outside the lock) with their report.
  std::pair<std::vector<vmm_allocation>, leak_report> release_all(const void* owner);

 private:
  struct entry {
    vmm_allocation allocation;
    allocation_info info;  // chunks and reservations filled in lazily by describe()
  };
  struct owner_state {
    allocation_stats stats;
    std::vector<address> recently_freed;  // ring buffer, for double-free detection
    std::size_t next_freed_slot = 0;
  };

  static allocation_info describe(const entry& e);
  const entry* entry_containing(address at) const;
  static void note_freed(owner_state& state, address base);

  mutable std::shared_mutex mutex_;
  std::map<address, entry> entries_;
  std::unordered_map<const void*, owner_state> owners_;
  allocation_stats totals_;
  std::uint64_t next_sequence_ = 1;
};

}  // namespace vmm_pmr
