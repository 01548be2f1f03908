// Serving a request from free blocks, steps 2-6 of the order in stream_ordered_pool.hpp:
// the stream's own free list and the ownerless list (best fit over both), then other
// streams' free blocks, each only once this stream is ordered after their frees.
//
// Invariant: a block freed on stream A reaches stream B only if B already waited for A's
// record covering it, A's record covering it is complete (the block is then ownerless),
// or B is made to wait for that record now. A capturing stream takes nothing from other
// streams, and an event is never recorded on a capturing stream.
#include <algorithm>

#include "stream_ordered/pool/stream_ordered_pool.hpp"

namespace vmm_pmr::detail {

block* stream_ordered_pool::allocate_from_free_blocks(stream_state& stream, std::size_t block_size,
                                                      std::size_t alignment) {
  flush_cache(stream);
  // The stream's own blocks and ownerless ones are equally free for it: the smaller fit
  // wins (lower address among equals), so placement is best fit over both.
  block* const own = stream.free_blocks.best_fit(block_size, alignment);
  block* const ownerless = ownerless_.best_fit(block_size, alignment);
  if (own != nullptr && (ownerless == nullptr || better_fit(*own, *ownerless))) {
    ++stats_.same_stream_reuses;
    return &carve(*own, block_size, alignment);
  }
  if (ownerless != nullptr) {
    ++stats_.settled_reuses;
    return &carve(*ownerless, block_size, alignment);
  }
  return take_from_other_streams(stream, block_size, alignment);
}

block* stream_ordered_pool::take_from_other_streams(stream_state& stream, std::size_t block_size,
                                                    std::size_t alignment) {
  const std::pmr::vector<stream_state*> donors = donors_for(stream, block_size);
  if (donors.empty()) return nullptr;
  // A capturing stream takes nothing from other streams: the captured work runs when the
  // graph is launched, which no event recorded now can order.
  if (driver_.stream_is_capturing(stream.stream)) return nullptr;
  if (block* found = take_already_waited_for(stream, donors, block_size, alignment)) return found;
  const std::pmr::vector<stream_state*> pending = free_completed_donations(donors);
  if (block* freed = ownerless_.best_fit(block_size, alignment)) {
    ++stats_.completed_stream_reuses;
    return &carve(*freed, block_size, alignment);
  }
  return take_after_wait(stream, pending, block_size, alignment);
}

std::pmr::vector<stream_state*> stream_ordered_pool::donors_for(const stream_state& stream,
                                                                std::size_t block_size) {
  // Only streams holding free blocks can help, and only when they hold enough together;
  // otherwise asking the driver (about captures, events) would cost calls for nothing.
  std::pmr::vector<stream_state*> donors(&bookkeeping_);
  std::size_t donated_bytes = 0;
  for (stream_state& other : streams_) {
    if (&other == &stream || !other.has_free_blocks()) continue;
    donors.push_back(&other);
    donated_bytes += other.cached_bytes();
  }
  // Freeing merges blocks of several streams, so together they may serve the request.
  if (donated_bytes < block_size) donors.clear();
  return donors;
}

block* stream_ordered_pool::take_already_waited_for(stream_state& stream,
                                                    const std::pmr::vector<stream_state*>& donors,
                                                    std::size_t block_size, std::size_t alignment) {
  for (stream_state* donor : donors) {
    const std::uint64_t waited = stream.waited_sequence(*donor);
    if (waited == 0) continue;
    flush_cache(*donor);
    if (block* found = donor->free_blocks.best_fit(block_size, alignment, waited)) {
      ++stats_.waited_stream_reuses;
      return &carve(*found, block_size, alignment);
    }
  }
  return nullptr;
}

std::pmr::vector<stream_state*> stream_ordered_pool::free_completed_donations(
    const std::pmr::vector<stream_state*>& donors) {
  std::pmr::vector<stream_state*> pending(&bookkeeping_);
  for (stream_state* donor : donors) {
    // An event recorded on a capturing stream would become a node of its graph; a destroyed
    // stream's blocks go to the orphans.
    if (stream_is_gone(*donor) || driver_.stream_is_capturing(donor->stream)) continue;
    flush_cache(*donor);
    record_frees(*donor);
    if (stream_is_done(*donor)) {
      make_ownerless(*donor, donor->event_covers);
    } else {
      pending.push_back(donor);
    }
  }
  return pending;
}

block* stream_ordered_pool::take_after_wait(stream_state& stream,
                                            const std::pmr::vector<stream_state*>& pending,
                                            std::size_t block_size, std::size_t alignment) {
  // Still in use on its stream: order this stream after the frees, then take it.
  block* best = nullptr;
  stream_state* best_donor = nullptr;
  for (stream_state* donor : pending) {
    block* candidate = donor->free_blocks.best_fit(block_size, alignment, donor->event_covers);
    if (candidate != nullptr && (best == nullptr || candidate->size < best->size)) {
      best = candidate;
      best_donor = donor;
    }
  }
  if (best == nullptr) return nullptr;
  best_donor->done.make_stream_wait(stream.stream);
  stream.note_wait(*best_donor, best_donor->event_covers);
  ++stats_.stream_waits;
  ++stats_.waited_stream_reuses;
  return &carve(*best, block_size, alignment);
}

block& stream_ordered_pool::carve(block& b, std::size_t block_size, std::size_t alignment) {
  free_list& list = list_of(b.stream);
  list.erase(b);
  const address start = placement_in(b, alignment);
  block* taken = &b;
  if (start > b.base) {
    taken = &blocks_.split(b, start);
    list.insert(b);  // the front keeps its place: its neighbours were not mergeable before
  }
  if (taken->size > block_size) list.insert(blocks_.split(*taken, taken->base + block_size));
  return *taken;
}

}  // namespace vmm_pmr::detail
