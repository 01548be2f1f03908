// What the registry knows about one live allocation: where it is, what was asked for,
// who owns it, and the chunks and reservations it is made of.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "vmm_pmr/backend/backend.hpp"
#include "vmm_pmr/core/memory_location.hpp"

namespace vmm_pmr {

struct chunk_info {
  address base = 0;
  std::size_t size = 0;
  physical_handle handle = 0;
};

// One address reservation of an allocation (a grown one may have several).
struct reservation_info {
  address base = 0;
  std::size_t size = 0;
};

struct allocation_info {
  address base = 0;
  std::size_t requested_bytes = 0;
  std::size_t mapped_bytes = 0;
  std::size_t alignment = 0;
  memory_location location;
  const void* owner = nullptr;
  std::uint64_t sequence = 0;  // order of registration in its registry
  bool compressed = false;
  bool imported = false;
  // Maps physical memory that another entry of the same owner holds (a bounded
  // stream_ordered_resource's alias range): counted in no byte statistics.
  bool aliased = false;
  std::vector<chunk_info> chunks;
  std::vector<reservation_info> reservations;  // back to back from base, covering the chunks
};

}  // namespace vmm_pmr
