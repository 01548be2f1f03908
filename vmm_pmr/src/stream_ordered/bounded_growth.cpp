// Growth under a footprint limit (stream_ordered_options::footprint_limit).
//
// Fragmentation is free memory in pieces too small for the request at hand. VMM lets the
// pool mend it: a free chunk anywhere in the reservation can be unmapped and its
// physical memory mapped again where the request goes. Every chunk of a bounded pool is
// min_chunk_size, so any free chunk fills any missing one.
//
// A request no free block holds goes to a window: a stretch of the reservation made of
// free blocks it may use (its stream's or settled) and holes, chosen to need the fewest
// chunks mapped. New chunks fill them while the footprint stays within the limit; past
// it, free chunks are moved there instead, taken from the smallest free blocks first
// (they serve the fewest requests). Only settled chunks move: unmapping is not
// stream-ordered, so no stream may still use them; settling asks the streams' events and
// never waits. Nothing moves while a stream captures a graph. What cannot be moved is
// mapped new: the limit bends rather than fail a request.
//
// A move costs about one unmap, one map and one access grant per chunk (about 35 µs on
// an H100; DESIGN.md): the window is chosen to need few, and moving starts only at the
// limit.
#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <limits>
#include <utility>
#include <vector>

#include "size_classes.hpp"
#include "stream_ordered_pool.hpp"
#include "vmm_pmr/byte_size.hpp"
#include "vmm_pmr/cleanup_errors.hpp"
#include "vmm_pmr/error.hpp"
#include "vmm_pmr/mapping.hpp"
#include "vmm_pmr/physical_memory.hpp"

namespace vmm_pmr::detail {
namespace {

// A piece of a window: a hole, or a free block the request may use.
struct segment {
  address base;
  address end;
  bool hole;
};

}  // namespace

std::size_t stream_ordered_pool::footprint_budget(std::size_t bytes) const noexcept {
  const std::size_t live_after =
      stats_.live_bytes > SIZE_MAX - bytes ? SIZE_MAX : stats_.live_bytes + bytes;
  const double allowed = *settings_.footprint_limit *
                         static_cast<double>(std::max(stats_.peak_live_bytes, live_after));
  if (allowed >= static_cast<double>(std::numeric_limits<std::size_t>::max() / 2)) return SIZE_MAX;
  return round_up(static_cast<std::size_t>(allowed), settings_.min_chunk_size).value_or(SIZE_MAX);
}

std::optional<stream_ordered_pool::window_plan> stream_ordered_pool::plan_window(
    const stream_state& stream, std::size_t block_size, std::size_t alignment) {
  const std::size_t chunk = settings_.min_chunk_size;
  const address space_end = space_.base() + space_.size();
  const auto slot_floor = [&](address at) {
    return space_.base() + (at - space_.base()) / chunk * chunk;
  };

  // Holes and usable free blocks in address order; those that touch form a region.
  std::pmr::vector<segment> segments(&bookkeeping_);
  auto hole = space_.holes().begin();
  const auto add_holes_below = [&](address limit) {
    for (; hole != space_.holes().end() && hole->first < limit; ++hole) {
      segments.push_back({hole->first, hole->first + hole->second, true});
    }
  };
  blocks_.for_each([&](const block& b) {
    add_holes_below(b.base);
    if (b.is_free() && (b.stream == &stream || b.stream == nullptr)) {
      segments.push_back({b.base, b.end(), false});
    }
  });
  add_holes_below(space_end);

  std::optional<window_plan> best;
  const auto consider = [&](std::size_t first, std::size_t last, address start) {
    const address region_base = segments[first].base;
    const address region_end = segments[last].end;
    if (start < region_base || start > region_end || region_end - start < block_size) return;
    const address end = start + block_size;
    const address first_slot = slot_floor(start);
    const address end_slot = slot_floor(end - 1) + chunk;
    if (end_slot > space_end || end_slot < first_slot) return;
    std::size_t missing = 0;
    for (std::size_t i = first; i <= last; ++i) {
      if (!segments[i].hole) continue;
      const address low = std::max(segments[i].base, first_slot);
      const address high = std::min(segments[i].end, end_slot);
      if (low < high) missing += (high - low) / chunk;
    }
    if (!best || missing < best->missing || (missing == best->missing && start < best->start)) {
      best = window_plan{start, first_slot, end_slot, missing};
    }
  };
  for (std::size_t first = 0; first < segments.size();) {
    std::size_t last = first;
    while (last + 1 < segments.size() && segments[last + 1].base == segments[last].end) ++last;
    if (segments[last].end - segments[first].base >= block_size) {
      // The fewest missing chunks come with a window that starts or ends where a
      // segment does: try both at every edge.
      for (std::size_t i = first; i <= last; ++i) {
        for (const address edge : {segments[i].base, segments[i].end}) {
          const address up = align_up(edge, alignment);
          if (up >= edge) consider(first, last, up);
          if (edge - segments[first].base >= block_size) {
            consider(first, last, (edge - block_size) / alignment * alignment);
          }
        }
      }
    }
    first = last + 1;
  }
  return best;
}

std::pmr::vector<address> stream_ordered_pool::movable_chunks(const window_plan& plan,
                                                              std::size_t wanted) {
  struct candidate {
    std::size_t run;  // the size of the free block holding it
    address base;
  };
  std::pmr::vector<candidate> found(&bookkeeping_);
  const auto& chunks = space_.chunks();
  settled_.for_each([&](const block& b) {
    for (auto chunk = chunks.lower_bound(b.base);
         chunk != chunks.end() && chunk->first + chunk->second <= b.end(); ++chunk) {
      const bool in_window =
          chunk->first < plan.end_slot && chunk->first + chunk->second > plan.first_slot;
      if (!in_window) found.push_back({b.size, chunk->first});
    }
  });
  std::sort(found.begin(), found.end(), [](const candidate& a, const candidate& b) {
    return a.run != b.run ? a.run < b.run : a.base > b.base;
  });
  std::pmr::vector<address> chosen(&bookkeeping_);
  for (std::size_t i = 0; i < found.size() && i < wanted; ++i) chosen.push_back(found[i].base);
  return chosen;
}

void* stream_ordered_pool::allocate_in_window(std::unique_lock<spin_lock>& lock,
                                              stream_state& stream, std::size_t bytes,
                                              std::size_t block_size, std::size_t alignment) {
  const std::size_t chunk = settings_.min_chunk_size;
  std::optional<window_plan> plan = plan_window(stream, block_size, alignment);
  if (!plan) throw no_room_for(block_size, alignment);

  // Past the limit: settle what has completed, plan again (settled blocks are usable),
  // and take free chunks to move.
  std::pmr::vector<address> sources(&bookkeeping_);
  const std::size_t budget = footprint_budget(bytes);
  if (plan->missing > 0 && space_.mapped_bytes() + plan->missing * chunk > budget &&
      capturing_stream() == nullptr) {
    settle_completed_streams();
    plan = plan_window(stream, block_size, alignment);
    assert(plan);  // settling only makes more blocks usable: the first window still fits
    const std::size_t after = space_.mapped_bytes() + plan->missing * chunk;
    if (after > budget) {
      sources =
          movable_chunks(*plan, std::min(plan->missing, (after - budget + chunk - 1) / chunk));
    }
  }
  const address start = plan->start;
  const address end = start + block_size;

  // Set aside, under the lock: the window's free blocks (their parts outside it stay
  // free), its holes, and the chunks to move.
  std::pmr::vector<block*> window_blocks(&bookkeeping_);
  blocks_.for_each([&](block& b) {
    if (b.end() > start && b.base < end) window_blocks.push_back(&b);
  });
  bool window_had_stream = false;
  std::uint64_t window_sequence = 0;
  for (block*& b : window_blocks) {
    free_list& list = list_of(b->stream);
    list.erase(*b);
    if (b->base < start) {
      block* front = b;
      b = &blocks_.split(*front, start);
      list.insert(*front);
    }
    if (b->end() > end) list.insert(blocks_.split(*b, end));
    b->state = block_state::reserved;
    window_had_stream = window_had_stream || b->stream == &stream;
    window_sequence = std::max(window_sequence, b->free_sequence);
  }
  std::pmr::vector<address> targets(&bookkeeping_);
  for (const auto& [hole_base, hole_size] : space_.holes()) {
    const address low = std::max(hole_base, plan->first_slot);
    const address high = std::min(hole_base + hole_size, plan->end_slot);
    for (address slot = low; slot < high; slot += chunk) targets.push_back(slot);
  }
  for (const address slot : targets) space_.take(slot, chunk);
  for (const address source : sources) cut_out_chunk(source, chunk);

  // The driver's part, without the lock: unmap the chunks to move, map them (and new
  // ones for the rest) in the window's holes, grant access once per run.
  lock.unlock();
  std::vector<bool> source_reusable(sources.size(), true);
  std::vector<address> registered;
  std::size_t removed = 0;  // sources taken out of the registry (the rest are still mapped)
  std::size_t moved = 0;
  try {
    std::vector<physical_memory> memory;
    memory.reserve(sources.size());
    for (std::size_t i = 0; i < sources.size(); ++i, removed = i) {
      const std::size_t failures_before = cleanup_error_count();
      removal outcome = registry_.remove(owner_, reinterpret_cast<void*>(sources[i]), chunk);
      if (outcome.status != removal_status::removed) {
        report_cleanup_error(fmt::format("move chunk {:#x}", sources[i]),
                             error("the mapping registry no longer knew the chunk"));
      }
      std::vector<physical_memory> taken = outcome.allocation.take_physical_memory();
      // A range that may still be mapped is never mapped over (see release_free_chunks),
      // and its memory is not mapped anywhere else: a stale pointer into the old range
      // would write into whatever block it backed there. It is released instead.
      source_reusable[i] = cleanup_error_count() == failures_before;
      if (!source_reusable[i]) continue;
      for (physical_memory& backing : taken) memory.push_back(std::move(backing));
    }
    moved = std::min(memory.size(), targets.size());
    std::vector<mapped_chunk> built;
    built.reserve(targets.size());
    for (std::size_t i = 0; i < targets.size(); ++i) {
      physical_memory backing = i < memory.size()
                                    ? std::move(memory[i])
                                    : physical_memory(driver_, chunk, settings_.properties);
      mapping mapped(driver_, targets[i], backing, 0, chunk);
      built.push_back({std::move(backing), std::move(mapped)});
    }
    for (std::size_t run = 0; run < targets.size();) {
      std::size_t next = run + 1;
      while (next < targets.size() && targets[next] == targets[next - 1] + chunk) ++next;
      driver_.set_access(targets[run], (next - run) * chunk, settings_.access);
      run = next;
    }
    registered.reserve(targets.size());
    for (mapped_chunk& made : built) {
      const address base = made.map.base();
      register_chunk(std::move(made));
      registered.push_back(base);
    }
  } catch (...) {
    // What was mapped here goes (its destructors unmapped and released it, or the
    // registry's entries do); the moved chunks' memory went with it.
    for (const address base : registered) {
      registry_.remove(owner_, reinterpret_cast<void*>(base), chunk).allocation = vmm_allocation();
    }
    lock.lock();
    for (const address slot : targets) space_.give_back(slot, chunk);
    for (std::size_t i = 0; i < removed; ++i) {
      if (source_reusable[i]) space_.give_back(sources[i], chunk);
    }
    stats_.chunks_released += removed;
    stats_.bytes_released += removed * chunk;
    // Sources still registered are still mapped: free chunks again, as they were.
    for (std::size_t i = removed; i < sources.size(); ++i) {
      space_.add_chunk(sources[i], chunk);
      stats_.cached_bytes += chunk;
      release_into(blocks_.insert({.base = sources[i], .size = chunk, .stream = nullptr}), nullptr);
    }
    for (block* b : window_blocks) release_into(*b, b->stream);
    throw;
  }
  lock.lock();

  for (std::size_t i = 0; i < sources.size(); ++i) {
    if (source_reusable[i]) space_.give_back(sources[i], chunk);
  }
  // Sources whose memory could not be handed over (no room to list it) were released.
  stats_.chunks_released += sources.size() - moved;
  stats_.bytes_released += (sources.size() - moved) * chunk;
  stats_.chunks_moved += moved;
  stats_.bytes_moved += moved * chunk;
  stats_.chunks_mapped += targets.size() - moved;
  stats_.cached_bytes += targets.size() * chunk;
  ++stats_.grown_allocations;
  for (const address slot : targets) {
    space_.add_chunk(slot, chunk);
    // Fresh (or moved, settled) memory: no stream may be using it here.
    blocks_.insert(
        {.base = slot, .size = chunk, .state = block_state::reserved, .stream = nullptr});
  }
  stats_.peak_mapped_bytes = std::max(stats_.peak_mapped_bytes, space_.mapped_bytes());

  // One block over the window and the chunks around it, then the request carved out.
  const address region_base = std::min(window_blocks.empty() ? start : window_blocks.front()->base,
                                       targets.empty() ? start : targets.front());
  const address region_end = std::max(window_blocks.empty() ? end : window_blocks.back()->end(),
                                      targets.empty() ? end : targets.back() + chunk);
  block* region = blocks_.find(region_base);
  while (region->end() < region_end) blocks_.absorb(*region, *blocks_.find(region->end()));
  region->stream = window_had_stream ? &stream : nullptr;
  region->free_sequence = window_sequence;
  block* taken = region;
  if (start > region->base) {
    taken = &blocks_.split(*region, start);
    release_into(*region, region->stream);
  }
  if (taken->size > block_size) {
    release_into(blocks_.split(*taken, end), taken->stream);
  }
  hand_out(*taken, stream, bytes);
  return reinterpret_cast<void*>(taken->base);
}

}  // namespace vmm_pmr::detail
