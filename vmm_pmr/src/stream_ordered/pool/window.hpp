// Where a bounded pool grows (bounded_growth.cpp): a window is a stretch of the
// reservation made of free blocks the request may use and holes, touching the chunk-aligned
// range [first_slot, end_slot), of which `missing` chunks are holes to map.
//
// best_window() is pure arithmetic over the segments (no pool state), so it is tested on
// its own. Invariant of its answer: the request [start, start + size) lies inside one run
// of touching segments, and `missing` counts exactly the hole chunks of that run inside
// [first_slot, end_slot).
#pragma once

#include <cstddef>
#include <memory_resource>
#include <optional>
#include <vector>

#include "vmm_pmr/backend/backend.hpp"

namespace vmm_pmr::detail {

// A piece of a window: a hole, or a free block the request may use.
struct window_segment {
  address base;
  address end;
  bool hole;
};

struct window_plan {
  address start = 0;
  address first_slot = 0;
  address end_slot = 0;
  std::size_t missing = 0;
};

// The chunk grid: slots `chunk` bytes apart from `base`, up to `end`.
struct chunk_grid {
  address base;
  address end;
  std::size_t chunk;

  address slot_floor(address at) const noexcept { return base + (at - base) / chunk * chunk; }
};

// Over `segments` (in address order, not overlapping): the window for `block_size` bytes at
// `alignment` with the fewest missing chunks, the lowest among equals; nullopt when no run
// of touching segments holds it.
std::optional<window_plan> best_window(const std::pmr::vector<window_segment>& segments,
                                       std::size_t block_size, std::size_t alignment,
                                       const chunk_grid& grid);

}  // namespace vmm_pmr::detail
