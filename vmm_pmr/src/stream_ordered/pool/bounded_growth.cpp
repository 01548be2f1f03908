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
//   2. a window (window.hpp): a stretch of the reservation made of free blocks it may use
//      and holes, chosen to need the fewest new chunks, when mapping them stays within the
//      limit;
//   3. past the limit, after making ownerless what other streams' completed work freed: a
//      new alias range of free chunks the stream may use (those a free list would give
//      it), plus new chunks for what is missing, when that maps less new memory than the
//      window would; otherwise the window. The limit bends rather than fail a request
//      when free chunks are short (still in use on other streams, or during a capture).
// Invariant: every chunk a bounded pool maps is min_chunk_size and lies on the chunk grid.

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include "stream_ordered/pool/growth_protocol.hpp"
#include "stream_ordered/pool/size_classes.hpp"
#include "vmm_pmr/core/byte_size.hpp"

namespace vmm_pmr::detail {

std::size_t stream_ordered_pool::footprint_budget(std::size_t bytes) const noexcept {
  const std::size_t live_after =
      stats_.live_bytes > SIZE_MAX - bytes ? SIZE_MAX : stats_.live_bytes + bytes;
  const double allowed = *settings_.footprint_limit *
                         static_cast<double>(std::max(stats_.peak_live_bytes, live_after));
  if (allowed >= static_cast<double>(std::numeric_limits<std::size_t>::max() / 2)) return SIZE_MAX;
  return round_up(static_cast<std::size_t>(allowed), settings_.min_chunk_size).value_or(SIZE_MAX);
}

std::pmr::vector<window_segment> stream_ordered_pool::window_segments(const stream_state& stream) {
  std::pmr::vector<window_segment> segments(&bookkeeping_);
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
  add_holes_below(space_.base() + space_.size());
  return segments;
}

std::optional<window_plan> stream_ordered_pool::plan_window(const stream_state& stream,
                                                            std::size_t block_size,
                                                            std::size_t alignment) {
  const chunk_grid grid{space_.base(), space_.base() + space_.size(), settings_.min_chunk_size};
  return best_window(window_segments(stream), block_size, alignment, grid);
}

void* stream_ordered_pool::allocate_from_idle_alias_range(stream_state& stream, std::size_t bytes,
                                                          std::size_t block_size,
                                                          std::size_t alignment) {
  block* taken = take_idle_alias_range(stream, block_size, alignment);
  if (taken == nullptr) return nullptr;
  ++stats_.alias_reuses;
  hand_out(*taken, stream, bytes);
  return reinterpret_cast<void*>(taken->base);
}

void* stream_ordered_pool::allocate_bounded(std::unique_lock<spin_lock>& lock, stream_state& stream,
                                            std::size_t bytes, std::size_t block_size,
                                            std::size_t alignment) {
  // More than the reservation holds: nothing below can help.
  if (block_size > space_.size()) throw no_room_for(block_size, alignment);
  if (void* reused = allocate_from_idle_alias_range(stream, bytes, block_size, alignment)) {
    return reused;
  }
  const std::size_t budget = footprint_budget(bytes);
  const std::optional<window_plan> plan = plan_window(stream, block_size, alignment);
  if (plan && space_.mapped_bytes() + plan->missing * settings_.min_chunk_size <= budget) {
    return grow_into_window(lock, stream, bytes, block_size, *plan);
  }
  return allocate_past_limit(lock, stream, bytes, block_size, alignment, budget);
}

void* stream_ordered_pool::allocate_past_limit(std::unique_lock<spin_lock>& lock,
                                               stream_state& stream, std::size_t bytes,
                                               std::size_t block_size, std::size_t alignment,
                                               std::size_t budget) {
  // What other streams freed and their work has completed is free for this one too (no
  // waiting: an event query each).
  if (capturing_stream() == nullptr) {
    free_completed_streams();
    if (void* reused = allocate_from_idle_alias_range(stream, bytes, block_size, alignment)) {
      return reused;
    }
  }
  const std::size_t chunk = settings_.min_chunk_size;
  const std::size_t wanted = chunks_for(block_size);
  make_room_for_alias_range(lock, wanted * chunk);  // may unlock: plan afresh below
  const std::optional<window_plan> plan = plan_window(stream, block_size, alignment);
  if (plan && space_.mapped_bytes() + plan->missing * chunk <= budget) {
    return grow_into_window(lock, stream, bytes, block_size, *plan);
  }
  std::pmr::vector<usable_chunk> borrowed = chunks_to_borrow(stream, wanted);
  const std::size_t fresh = wanted - borrowed.size();
  // A range would map at least as much new memory: the window is as good, and cheaper.
  if (plan && plan->missing <= fresh)
    return grow_into_window(lock, stream, bytes, block_size, *plan);
  if (void* served =
          allocate_in_new_alias_range(lock, stream, bytes, alignment, std::move(borrowed), fresh)) {
    return served;
  }
  // No hole holds the range: the window, if there is one, maps what is missing.
  if (!plan) throw no_room_for(block_size, alignment);
  return grow_into_window(lock, stream, bytes, block_size, *plan);
}

stream_ordered_pool::window_set_aside stream_ordered_pool::set_aside_window(
    const stream_state& stream, address start, address end, const window_plan& plan) {
  window_set_aside window{std::pmr::vector<block*>(&bookkeeping_),
                          std::pmr::vector<address>(&bookkeeping_)};
  blocks_.for_each([&](block& b) {
    if (b.end() > start && b.base < end) window.blocks.push_back(&b);
  });
  // The window's free blocks, their parts outside it left free.
  for (block*& b : window.blocks) {
    free_list& list = list_of(b->stream);
    list.erase(*b);
    if (b->base < start) {
      block* front = b;
      b = &blocks_.split(*front, start);
      list.insert(*front);
    }
    if (b->end() > end) list.insert(blocks_.split(*b, end));
    b->state = block_state::set_aside;
    window.had_stream = window.had_stream || b->stream == &stream;
    window.newest_free = std::max(window.newest_free, b->free_sequence);
  }
  // And its holes, a chunk slot each.
  const std::size_t chunk = settings_.min_chunk_size;
  for (const auto& [hole_base, hole_size] : space_.holes()) {
    const address low = std::max(hole_base, plan.first_slot);
    const address high = std::min(hole_base + hole_size, plan.end_slot);
    for (address slot = low; slot < high; slot += chunk) window.slots.push_back(slot);
  }
  for (const address slot : window.slots) space_.take(slot, chunk);
  return window;
}

void stream_ordered_pool::map_window_chunks(const std::pmr::vector<address>& slots,
                                            registered_chunks& registered) {
  const std::size_t chunk = settings_.min_chunk_size;
  std::vector<mapped_chunk> built;
  built.reserve(slots.size());
  for (const address slot : slots) built.push_back(build_chunk(slot, chunk));
  // Access is granted once per run of touching chunks.
  for (std::size_t run = 0; run < slots.size();) {
    std::size_t next = run + 1;
    while (next < slots.size() && slots[next] == slots[next - 1] + chunk) ++next;
    driver_.set_access(slots[run], (next - run) * chunk, settings_.access);
    run = next;
  }
  register_chunks(built, registered);
}

block& stream_ordered_pool::join_window(const window_set_aside& window, address start, address end,
                                        stream_state& stream) {
  const std::size_t chunk = settings_.min_chunk_size;
  const address region_base = std::min(window.blocks.empty() ? start : window.blocks.front()->base,
                                       window.slots.empty() ? start : window.slots.front());
  const address region_end = std::max(window.blocks.empty() ? end : window.blocks.back()->end(),
                                      window.slots.empty() ? end : window.slots.back() + chunk);
  block* region = blocks_.find(region_base);
  while (region->end() < region_end) blocks_.absorb(*region, *blocks_.find(region->end()));
  region->stream = window.had_stream ? &stream : nullptr;
  region->free_sequence = window.newest_free;
  return *region;
}

void* stream_ordered_pool::grow_into_window(std::unique_lock<spin_lock>& lock, stream_state& stream,
                                            std::size_t bytes, std::size_t block_size,
                                            const window_plan& plan) {
  const std::size_t chunk = settings_.min_chunk_size;
  const address start = plan.start;
  const address end = start + block_size;
  const window_set_aside window = set_aside_window(stream, start, end, plan);
  map_without_lock(
      lock, [&](registered_chunks& registered) { map_window_chunks(window.slots, registered); },
      [&] {
        for (const address slot : window.slots) space_.give_back(slot, chunk);
        for (block* b : window.blocks) release_into(*b, b->stream);
      });
  for (const address slot : window.slots) add_mapped_chunk(slot, chunk, block_state::set_aside);
  count_growth(window.slots.size(), window.slots.size() * chunk);
  // One block over the window and the chunks around it, then the request carved out.
  block& region = join_window(window, start, end, stream);
  return hand_out_from(region, start, block_size, stream, bytes, false);
}

}  // namespace vmm_pmr::detail
