// Growth under a footprint limit (stream_ordered_options::footprint_limit).
//
// Fragmentation is free memory in pieces too small for the request at hand. VMM lets the
// pool mend it without moving or unmapping anything: free chunks from anywhere in the
// reservation are mapped a second time, back to back, where the request goes (an alias
// range, alias_range.hpp). Every chunk of a bounded pool is min_chunk_size, so any free
// chunk serves any range.
//
// A request that no free block holds is served by, in order:
//   1. an idle alias range of exactly its chunks, all free for its stream: no driver call;
//   2. a window: a stretch of the reservation made of free blocks it may use and holes,
//      chosen to need the fewest new chunks, when mapping them stays within the limit;
//   3. past the limit, after settling what other streams' completed work freed: a new
//      alias range of free chunks the stream may use (those a free list would give it),
//      plus new chunks for what is missing, when that maps less new memory than the
//      window would; otherwise the window. The limit bends rather than fail a request
//      when free chunks are short (still in use on other streams, or during a capture).

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include "stream_ordered/pool/size_classes.hpp"
#include "stream_ordered/pool/stream_ordered_pool.hpp"
#include "vmm_pmr/core/byte_size.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/handles/mapping.hpp"
#include "vmm_pmr/handles/physical_memory.hpp"

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

void* stream_ordered_pool::allocate_bounded(std::unique_lock<spin_lock>& lock, stream_state& stream,
                                            std::size_t bytes, std::size_t block_size,
                                            std::size_t alignment) {
  // More than the reservation holds: nothing below can help.
  if (block_size > space_.size()) throw no_room_for(block_size, alignment);
  const auto reuse = [&]() -> void* {
    block* taken = take_idle_alias_range(stream, block_size, alignment);
    if (taken == nullptr) return nullptr;
    ++stats_.alias_reuses;
    hand_out(*taken, stream, bytes);
    return reinterpret_cast<void*>(taken->base);
  };
  if (void* reused = reuse()) return reused;

  const std::size_t chunk = settings_.min_chunk_size;
  const std::size_t budget = footprint_budget(bytes);
  const auto within_limit = [&](const window_plan& plan) {
    return space_.mapped_bytes() + plan.missing * chunk <= budget;
  };
  std::optional<window_plan> plan = plan_window(stream, block_size, alignment);
  if (plan && within_limit(*plan)) return grow_into_window(lock, stream, bytes, block_size, *plan);

  // Past the limit. What other streams freed and their work has completed is free for
  // this one too (no waiting: an event query each).
  if (capturing_stream() == nullptr) {
    settle_completed_streams();
    if (void* reused = reuse()) return reused;
  }
  const std::size_t wanted = chunks_for(block_size);
  make_room_for_alias_range(lock, wanted * chunk);  // may unlock: plan afresh below
  plan = plan_window(stream, block_size, alignment);
  if (plan && within_limit(*plan)) return grow_into_window(lock, stream, bytes, block_size, *plan);
  std::pmr::vector<usable_chunk> borrowed = chunks_to_borrow(stream, wanted);
  const std::size_t fresh = wanted - borrowed.size();
  // A range would map at least as much new memory: the window is as good, and cheaper.
  if (plan && plan->missing <= fresh) {
    return grow_into_window(lock, stream, bytes, block_size, *plan);
  }
  if (void* served =
          allocate_in_new_alias_range(lock, stream, bytes, alignment, std::move(borrowed), fresh)) {
    return served;
  }
  // No hole holds the range: the window, if there is one, maps what is missing.
  if (!plan) throw no_room_for(block_size, alignment);
  return grow_into_window(lock, stream, bytes, block_size, *plan);
}

void* stream_ordered_pool::grow_into_window(std::unique_lock<spin_lock>& lock, stream_state& stream,
                                            std::size_t bytes, std::size_t block_size,
                                            const window_plan& plan) {
  const std::size_t chunk = settings_.min_chunk_size;
  const address start = plan.start;
  const address end = start + block_size;

  // Set aside, under the lock: the window's free blocks (their parts outside it stay
  // free) and its holes.
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
    const address low = std::max(hole_base, plan.first_slot);
    const address high = std::min(hole_base + hole_size, plan.end_slot);
    for (address slot = low; slot < high; slot += chunk) targets.push_back(slot);
  }
  for (const address slot : targets) space_.take(slot, chunk);

  // The driver's part, without the lock: map new chunks in the window's holes, grant
  // access once per run.
  lock.unlock();
  std::vector<address> registered;
  try {
    std::vector<mapped_chunk> built;
    built.reserve(targets.size());
    for (const address slot : targets) {
      physical_memory backing(driver_, chunk, settings_.properties);
      mapping mapped(driver_, slot, backing, 0, chunk);
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
    // registry's entries do).
    for (const address base : registered) {
      registry_.remove(owner_, reinterpret_cast<void*>(base), chunk).allocation = vmm_allocation();
    }
    lock.lock();
    for (const address slot : targets) space_.give_back(slot, chunk);
    for (block* b : window_blocks) release_into(*b, b->stream);
    throw;
  }
  lock.lock();

  stats_.chunks_mapped += targets.size();
  stats_.cached_bytes += targets.size() * chunk;
  ++stats_.grown_allocations;
  for (const address slot : targets) {
    space_.add_chunk(slot, chunk);
    // Fresh memory: no stream may be using it here.
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
