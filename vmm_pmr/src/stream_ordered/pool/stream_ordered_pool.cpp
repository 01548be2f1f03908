// The stream-ordered pool; see stream_ordered_pool.hpp for the order of attempts and
// the invariants.
#include "stream_ordered/pool/stream_ordered_pool.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <exception>
#include <iterator>
#include <utility>

#include "stream_ordered/pool/size_classes.hpp"
#include "vmm_pmr/core/byte_size.hpp"
#include "vmm_pmr/core/cleanup_errors.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/handles/mapping.hpp"
#include "vmm_pmr/handles/physical_memory.hpp"
#include "vmm_pmr/handles/vmm_allocation.hpp"

namespace vmm_pmr::detail {
namespace {

// Growth aims to map at most this fraction more than is needed (1/16: 6.25%).
constexpr std::size_t growth_divisor = 16;
// Frees over the release threshold between two automatic trims that released nothing.
constexpr std::uint32_t auto_trim_retry_interval = 64;

// The reservation's alignment: what the options ask, and at least the largest power of two
// that divides min_chunk_size, so that slots of the chunk grid are as aligned as a chunk's
// size allows whatever address the backend picks (a bounded pool places alias ranges on
// that grid at the request's alignment).
std::size_t grid_alignment(const pool_settings& settings) {
  const std::size_t chunk = settings.min_chunk_size;
  return std::max(settings.reservation_alignment, chunk & (~chunk + 1));
}

}  // namespace

std::uint64_t stream_state::waited_sequence(const stream_state& donor) const noexcept {
  for (const auto& [waited, covers] : waited_for) {
    if (waited == &donor) return covers;
  }
  return 0;
}

void stream_state::note_wait(stream_state& donor, std::uint64_t covers) {
  for (auto& [waited, waited_covers] : waited_for) {
    if (waited == &donor) {
      waited_covers = std::max(waited_covers, covers);
      return;
    }
  }
  waited_for.emplace_back(&donor, covers);
}

stream_ordered_pool::stream_ordered_pool(backend& driver, mapping_registry& registry,
                                         const void* owner, pool_settings settings)
    : driver_(driver),
      registry_(registry),
      owner_(owner),
      settings_(std::move(settings)),
      reservation_(driver, settings_.reservation_size, grid_alignment(settings_)),
      space_(reservation_.base(), reservation_.size(), &bookkeeping_),
      blocks_(&bookkeeping_),
      streams_(&bookkeeping_),
      stream_index_(&bookkeeping_) {
  stats_.reserved_bytes = reservation_.size();
}

// shut_down() normally released everything already; this covers a pool that was never
// shut down (its owner's constructor threw after creating it).
stream_ordered_pool::~stream_ordered_pool() { registry_.release_all(owner_).first.clear(); }

stream_state& stream_ordered_pool::find_or_add_state(stream_view stream) {
  const auto found = stream_index_.find(stream.id());
  if (found != stream_index_.end()) return *(last_stream_ = found->second);
  stream_state& created = streams_.emplace_back(stream, &bookkeeping_);
  stream_index_.emplace(stream.id(), &created);
  return *(last_stream_ = &created);
}

// ---- allocation ----

void* stream_ordered_pool::allocate(std::size_t bytes, std::size_t block_size,
                                    std::size_t alignment, stream_view stream) {
  std::unique_lock lock(lock_);
  stream_state& state = state_of(stream);
  if (block* reused = state.recent.pop(block_size, alignment)) {
    ++stats_.same_stream_reuses;
    hand_out(*reused, state, bytes);
    return reinterpret_cast<void*>(reused->base);
  }

  for (int attempt = 0;; ++attempt) {
    if (block* cached = allocate_from_cache(state, block_size, alignment)) {
      hand_out(*cached, state, bytes);
      return reinterpret_cast<void*>(cached->base);
    }
    try {
      if (bounded()) return allocate_bounded(lock, state, bytes, block_size, alignment);
      return allocate_by_growing(lock, state, bytes, block_size, alignment);
    } catch (const out_of_memory&) {
      if (attempt > 0) throw;
    }
    // Out of memory or address space: give back what is free everywhere (waiting for the
    // streams that freed it), and try everything once more.
    lock.unlock();
    try {
      trim(0);
    } catch (const error&) {
      // A stream is capturing: nothing can be unmapped now; the retry will tell.
    }
    lock.lock();
  }
}

block* stream_ordered_pool::allocate_from_cache(stream_state& stream, std::size_t block_size,
                                                std::size_t alignment) {
  flush_cache(stream);
  // The stream's own blocks and settled ones are equally free for it: the smaller fit
  // wins (lower address among equals), so placement is best fit over both.
  block* const own = stream.free_blocks.best_fit(block_size, alignment);
  block* const settled = settled_.best_fit(block_size, alignment);
  if (own != nullptr && (settled == nullptr || better_fit(*own, *settled))) {
    ++stats_.same_stream_reuses;
    return &carve(*own, block_size, alignment);
  }
  if (settled != nullptr) {
    ++stats_.settled_reuses;
    return &carve(*settled, block_size, alignment);
  }
  return take_from_other_streams(stream, block_size, alignment);
}

block* stream_ordered_pool::take_from_other_streams(stream_state& stream, std::size_t block_size,
                                                    std::size_t alignment) {
  // Only streams holding free blocks can help, and only when they hold enough together;
  // otherwise asking the driver (about captures, events) would cost calls for nothing.
  std::pmr::vector<stream_state*> donors(&bookkeeping_);
  std::size_t donated_bytes = 0;
  for (stream_state& other : streams_) {
    if (&other == &stream || !other.has_free_blocks()) continue;
    donors.push_back(&other);
    donated_bytes += other.cached_bytes();
  }
  // Settling merges blocks of several streams, so together they may serve the request.
  if (donated_bytes < block_size) return nullptr;
  // A capturing stream takes nothing from other streams: the captured work runs when the
  // graph is launched, which no event recorded now can order.
  if (driver_.stream_is_capturing(stream.stream)) return nullptr;

  // Blocks this stream is already ordered after, through an earlier wait.
  for (stream_state* donor : donors) {
    const std::uint64_t waited = stream.waited_sequence(*donor);
    if (waited == 0) continue;
    flush_cache(*donor);
    if (block* found = donor->free_blocks.best_fit(block_size, alignment, waited)) {
      ++stats_.waited_stream_reuses;
      return &carve(*found, block_size, alignment);
    }
  }

  // Blocks whose freeing has completed: settled by an event recorded after the frees.
  std::pmr::vector<stream_state*> recorded(&bookkeeping_);
  for (stream_state* donor : donors) {
    // An event recorded on a capturing stream would become a node of its graph.
    if (driver_.stream_is_capturing(donor->stream)) continue;
    flush_cache(*donor);
    record_frees(*donor);
    if (!donor->event_complete && donor->done.complete()) donor->event_complete = true;
    if (donor->event_complete) {
      settle_covered(*donor, donor->event_covers);
    } else {
      recorded.push_back(donor);
    }
  }
  if (block* settled = settled_.best_fit(block_size, alignment)) {
    ++stats_.completed_stream_reuses;
    return &carve(*settled, block_size, alignment);
  }

  // Still in use on its stream: order this stream after the frees, then take it.
  block* best = nullptr;
  stream_state* best_donor = nullptr;
  for (stream_state* donor : recorded) {
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

void stream_ordered_pool::hand_out(block& b, stream_state& stream, std::size_t bytes) noexcept {
  b.state = block_state::live;
  b.stream = &stream;
  b.requested = bytes;
  b.next_cached = nullptr;
  ++stats_.allocations;
  ++stats_.live_count;
  stats_.live_bytes += bytes;
  stats_.live_block_bytes += b.size;
  stats_.cached_bytes -= b.size;
  stats_.peak_live_bytes = std::max(stats_.peak_live_bytes, stats_.live_bytes);
  ++stream.usage.allocations;
  ++stream.usage.live_count;
  stream.usage.live_bytes += bytes;
}

// ---- growth ----

std::size_t stream_ordered_pool::preferred_chunk_size() const noexcept {
  if (bounded()) return settings_.min_chunk_size;
  const std::size_t proportional =
      round_up(space_.mapped_bytes() / growth_divisor, settings_.granularity).value_or(0);
  return std::max(settings_.min_chunk_size, std::min(settings_.max_chunk_size, proportional));
}

stream_ordered_pool::growth_plan stream_ordered_pool::plan_growth(const stream_state& stream,
                                                                  std::size_t block_size,
                                                                  std::size_t alignment) {
  const std::size_t preferred = preferred_chunk_size();
  // First fit over the holes: the lowest address where the request fits.
  for (const auto& [hole_base, hole_size] : space_.holes()) {
    // A free block of this stream (or settled) ending at the hole is extended by the new
    // chunk instead of left behind: the chunk maps only what the block lacks.
    block* extended = nullptr;
    address start = 0;
    if (hole_base > space_.base()) {
      block* before = blocks_.containing(hole_base - 1);
      if (before != nullptr && before->is_free() &&
          (before->stream == &stream || before->stream == nullptr)) {
        const address placement = placement_in(*before, alignment);
        if (placement >= before->base && placement < hole_base) {
          extended = before;
          start = placement;
        }
      }
    }
    address chunk_base = hole_base;
    if (extended == nullptr) {
      start = align_up(hole_base, alignment);
      if (start < hole_base) continue;  // the alignment wraps around
      // A large alignment leaves the hole's front unmapped rather than mapping padding.
      chunk_base = std::max(hole_base, start / settings_.granularity * settings_.granularity);
    }
    const address hole_end = hole_base + hole_size;
    if (start + block_size < start || start + block_size > hole_end) continue;
    const std::optional<std::size_t> needed =
        round_up(start + block_size - chunk_base, settings_.granularity);
    if (!needed || *needed > hole_end - chunk_base) continue;
    return {chunk_base, std::max(*needed, std::min(preferred, hole_end - chunk_base)), extended};
  }
  throw no_room_for(block_size, alignment);
}

out_of_memory stream_ordered_pool::no_room_for(std::size_t block_size,
                                               std::size_t alignment) const {
  return out_of_memory(
      fmt::format("no free range of the {} reservation holds {} at alignment {} (mapped: {})",
                  format_bytes(space_.size()), format_bytes(block_size), alignment,
                  format_bytes(space_.mapped_bytes())));
}

void stream_ordered_pool::map_chunk(address base, std::size_t size) {
  // Each step's RAII object undoes it if a later step throws.
  physical_memory memory(driver_, size, settings_.properties);
  mapping mapped(driver_, base, memory, 0, size);
  driver_.set_access(base, size, settings_.access);
  register_chunk({std::move(memory), std::move(mapped)});
}

void stream_ordered_pool::register_chunk(mapped_chunk chunk) {
  const std::size_t size = chunk.map.size();
  std::vector<mapped_chunk> chunks;
  chunks.push_back(std::move(chunk));
  // No reservation of its own: the chunk lives in the pool's.
  registry_.add(owner_, vmm_allocation({}, std::move(chunks)),
                {.requested_bytes = size,
                 .alignment = settings_.granularity,
                 .location = settings_.properties.location,
                 .compressed = false,
                 .imported = false});
}

void* stream_ordered_pool::allocate_by_growing(std::unique_lock<spin_lock>& lock,
                                               stream_state& stream, std::size_t bytes,
                                               std::size_t block_size, std::size_t alignment) {
  const growth_plan plan = plan_growth(stream, block_size, alignment);
  space_.take(plan.chunk_base, plan.chunk_size);
  if (plan.extended != nullptr) {
    list_of(plan.extended->stream).erase(*plan.extended);
    plan.extended->state = block_state::reserved;
  }

  lock.unlock();
  try {
    map_chunk(plan.chunk_base, plan.chunk_size);
  } catch (...) {
    lock.lock();
    space_.give_back(plan.chunk_base, plan.chunk_size);
    if (plan.extended != nullptr) {
      plan.extended->state = block_state::free;
      release_into(*plan.extended, plan.extended->stream);
    }
    throw;
  }
  lock.lock();

  space_.add_chunk(plan.chunk_base, plan.chunk_size);
  ++stats_.chunks_mapped;
  ++stats_.grown_allocations;
  stats_.cached_bytes += plan.chunk_size;
  stats_.peak_mapped_bytes = std::max(stats_.peak_mapped_bytes, space_.mapped_bytes());

  // Fresh memory: no stream has used it.
  block& fresh = blocks_.insert({.base = plan.chunk_base,
                                 .size = plan.chunk_size,
                                 .state = block_state::reserved,
                                 .stream = nullptr});
  block* region = &fresh;
  if (plan.extended != nullptr) {
    blocks_.absorb(*plan.extended, fresh);
    region = plan.extended;
  }
  const address start = placement_in(*region, alignment);
  block* taken = region;
  if (start > region->base) {
    // Before the request: part of the extended block (its stream), or fresh memory.
    taken = &blocks_.split(*region, start);
    region->state = block_state::free;
    release_into(*region, region->stream);
  }
  if (taken->size > block_size) {
    // After it: always inside the fresh chunk, so settled.
    block& rest = blocks_.split(*taken, taken->base + block_size);
    rest.state = block_state::free;
    rest.free_sequence = 0;
    release_into(rest, nullptr);
  }
  hand_out(*taken, stream, bytes);
  return reinterpret_cast<void*>(taken->base);
}

// ---- freeing ----

// A stream's block also absorbs settled neighbours: settled memory is safe for any stream,
// so counting it as the stream's (pending its work) only costs other streams an event
// later, while leaving it apart would split free space between two lists and force
// growth where one merged block would have served.
void stream_ordered_pool::release_into(block& b, stream_state* stream) {
  if (b.alias != nullptr) {
    return_alias_range(b, stream);
    return;
  }
  b.state = block_state::free;
  b.stream = stream;
  free_list& list = list_of(stream);
  const auto mergeable = [stream](const block* neighbour) {
    return neighbour != nullptr && neighbour->is_free() &&
           (neighbour->stream == stream || neighbour->stream == nullptr);
  };
  // Past a settled neighbour may lie a block of `stream` that the settled one never merged
  // with (it was in another list then): keep going until a neighbour is not mergeable.
  block* merged = &b;
  for (block* before = blocks_.adjacent_before(*merged); mergeable(before);
       before = blocks_.adjacent_before(*merged)) {
    list_of(before->stream).erase(*before);
    before->free_sequence = std::max(before->free_sequence, merged->free_sequence);
    before->stream = stream;
    blocks_.absorb(*before, *merged);
    merged = before;
  }
  for (block* after = blocks_.adjacent_after(*merged); mergeable(after);
       after = blocks_.adjacent_after(*merged)) {
    list_of(after->stream).erase(*after);
    merged->free_sequence = std::max(merged->free_sequence, after->free_sequence);
    blocks_.absorb(*merged, *after);
  }
  list.insert(*merged);
}

void stream_ordered_pool::flush_cache(stream_state& stream) {
  stream.recent.drain([&](block& b) { release_into(b, &stream); });
}

void stream_ordered_pool::flush_all_caches() {
  for (stream_state& stream : streams_) flush_cache(stream);
}

free_outcome stream_ordered_pool::deallocate(void* pointer, std::size_t bytes, stream_view stream) {
  const auto at = reinterpret_cast<address>(pointer);
  bool trim_now = false;
  {
    std::lock_guard lock(lock_);
    block* b = blocks_.find(at);
    if (b == nullptr || b->state != block_state::live || b->requested != bytes) {
      return diagnose_bad_free(at, b);
    }
    stream_state& freeing = state_of(stream);
    stream_state& allocating = *b->stream;
    --allocating.usage.live_count;
    allocating.usage.live_bytes -= b->requested;
    ++freeing.usage.deallocations;
    ++stats_.deallocations;
    --stats_.live_count;
    stats_.live_bytes -= b->requested;
    stats_.live_block_bytes -= b->size;
    stats_.cached_bytes += b->size;

    b->requested = 0;
    b->free_sequence = ++free_sequence_;
    freeing.newest_free = b->free_sequence;
    b->stream = &freeing;
    if (freeing.recent.push(*b)) {
      b->state = block_state::cached;
    } else {
      release_into(*b, &freeing);
    }
    if (settings_.release_threshold && stats_.cached_bytes > *settings_.release_threshold) {
      trim_now = stats_.cached_bytes >= auto_trim_trigger_ ||
                 ++frees_since_auto_trim_ >= auto_trim_retry_interval;
    }
  }
  if (trim_now) trim_without_waiting();
  return {};
}

free_outcome stream_ordered_pool::diagnose_bad_free(address at, const block* found) {
  ++stats_.deallocation_errors;
  free_outcome outcome;
  if (found != nullptr) {
    outcome.block_base = found->base;
    if (found->state == block_state::live) {
      outcome.problem = bad_free::wrong_size;
      outcome.block_requested = found->requested;
    } else {
      outcome.problem = bad_free::double_free;
    }
    return outcome;
  }
  if (const block* holder = blocks_.containing(at)) {
    outcome.block_base = holder->base;
    if (holder->state == block_state::live) {
      outcome.problem = bad_free::interior_pointer;
      outcome.block_requested = holder->requested;
    } else {
      outcome.problem = bad_free::inside_free_block;
    }
    return outcome;
  }
  const bool in_idle_range =
      std::any_of(aliases_.begin(), aliases_.end(), [&](const alias_range& r) {
        return at >= r.base && at - r.base < r.homes.size() * settings_.min_chunk_size;
      });
  outcome.problem = in_idle_range         ? bad_free::inside_free_block
                    : space_.contains(at) ? bad_free::unmapped_pointer
                                          : bad_free::unknown_pointer;
  return outcome;
}

// ---- events and settling ----

void stream_ordered_pool::record_frees(stream_state& stream) {
  if (stream.event_recorded && stream.event_covers >= stream.newest_free) return;
  if (!stream.done) stream.done = event(driver_);
  stream.done.record(stream.stream);
  stream.event_recorded = true;
  stream.event_complete = false;
  stream.event_covers = free_sequence_;
}

void stream_ordered_pool::settle_covered(stream_state& stream, std::uint64_t covers) {
  flush_cache(stream);
  std::pmr::vector<block*> covered(&bookkeeping_);
  stream.free_blocks.for_each([&](block& b) {
    if (b.free_sequence <= covers) covered.push_back(&b);
  });
  // Each block merges only with settled neighbours, which are never still in `covered`:
  // the pointers stay valid until their turn.
  for (block* b : covered) {
    stream.free_blocks.erase(*b);
    release_into(*b, nullptr);
  }
}

void stream_ordered_pool::settle_completed_streams() {
  for (stream_state& stream : streams_) {
    if (!stream.has_free_blocks()) continue;
    // What an earlier record covers settles first: recording again for newer frees
    // would otherwise make those wait for the new record too.
    if (stream.event_recorded && !stream.event_complete && stream.done.complete()) {
      stream.event_complete = true;
    }
    if (stream.event_recorded && stream.event_complete) {
      settle_covered(stream, stream.event_covers);
      if (!stream.has_free_blocks()) continue;
    }
    record_frees(stream);
    if (!stream.event_complete && stream.done.complete()) stream.event_complete = true;
    if (stream.event_complete) settle_covered(stream, stream.event_covers);
  }
}

const stream_state* stream_ordered_pool::capturing_stream() {
  for (const stream_state& stream : streams_) {
    if (driver_.stream_is_capturing(stream.stream)) return &stream;
  }
  return nullptr;
}

void stream_ordered_pool::settle(stream_view stream) {
  std::unique_lock lock(lock_);
  stream_state& state = state_of(stream);
  if (!state.has_free_blocks()) return;
  if (driver_.stream_is_capturing(state.stream)) {
    throw error(fmt::format(
        "stream_ordered_resource::settle(): {} is capturing a CUDA graph; its frees cannot be "
        "waited for until the capture ends",
        to_string(stream)));
  }
  flush_cache(state);
  record_frees(state);
  const std::uint64_t covers = state.event_covers;
  lock.unlock();
  state.done.synchronize();
  lock.lock();
  if (state.event_covers == covers) state.event_complete = true;
  settle_covered(state, covers);
}

// ---- trimming ----

bool stream_ordered_pool::chunk_is_free(address base, std::size_t size, bool settled_only) {
  const address end = base + size;
  block* b = blocks_.containing(base);
  while (b != nullptr) {
    const bool free = b->is_free() || b->state == block_state::cached;
    if (!free || (settled_only && b->stream != nullptr)) return false;
    if (b->end() >= end) return true;
    b = blocks_.adjacent_after(*b);
  }
  return false;
}

void stream_ordered_pool::cut_out_chunk(address base, std::size_t size) {
  const address end = base + size;
  block* b = blocks_.containing(base);
  settled_.erase(*b);
  if (b->base < base) {
    block& inside = blocks_.split(*b, base);
    settled_.insert(*b);
    b = &inside;
  }
  for (;;) {
    if (b->end() > end) settled_.insert(blocks_.split(*b, end));
    const address next = b->end();
    blocks_.erase(*b);
    if (next >= end) break;
    b = blocks_.find(next);
    settled_.erase(*b);
  }
  space_.remove_chunk(base);
  stats_.cached_bytes -= size;
}

std::size_t stream_ordered_pool::release_free_chunks(std::unique_lock<spin_lock>& lock,
                                                     std::size_t bytes_to_keep) {
  address_list releasing(&bookkeeping_);
  std::size_t released_bytes = 0;
  std::pmr::vector<std::pair<address, std::size_t>> chunks(space_.chunks().rbegin(),
                                                           space_.chunks().rend(), &bookkeeping_);
  for (const auto& [base, size] : chunks) {
    if (stats_.cached_bytes < bytes_to_keep || stats_.cached_bytes - bytes_to_keep < size) {
      continue;
    }
    if (!chunk_is_free(base, size, true)) continue;
    cut_out_chunk(base, size);
    releasing.emplace_back(base, size);
    released_bytes += size;
  }
  if (releasing.empty()) return 0;
  // Idle alias ranges that map a released chunk go first. A settled free chunk says that
  // the work of the range's last user is complete: its free gave the chunk that user's
  // stream, and only an event recorded after it settles the chunk.
  address_list retiring(&bookkeeping_);
  std::pmr::vector<address> released_homes(&bookkeeping_);
  for (const auto& [base, size] : releasing) released_homes.push_back(base);
  std::sort(released_homes.begin(), released_homes.end());
  for (auto range = aliases_.begin(); range != aliases_.end();) {
    const bool maps_released =
        std::any_of(range->homes.begin(), range->homes.end(), [&](address home) {
          return std::binary_search(released_homes.begin(), released_homes.end(), home);
        });
    auto next = std::next(range);
    if (maps_released) {
      assert(range->user == nullptr);  // a range in use holds its chunks: none is free
      retire(range, retiring);
    }
    range = next;
  }
  unmap_retired(lock, retiring, releasing);
  stats_.chunks_released += releasing.size();
  stats_.bytes_released += released_bytes;
  ++stats_.trims;
  return released_bytes;
}

std::size_t stream_ordered_pool::trim(std::size_t bytes_to_keep) {
  std::unique_lock lock(lock_);
  if (const stream_state* capturing = capturing_stream()) {
    throw error(fmt::format(
        "stream_ordered_resource::trim(): {} is capturing a CUDA graph; memory cannot be "
        "unmapped during a capture (end the capture first)",
        to_string(capturing->stream)));
  }
  flush_all_caches();
  // The streams that freed into chunks that are otherwise free: wait for them.
  std::pmr::vector<pending_wait> waits(&bookkeeping_);
  for (const auto& [base, size] : space_.chunks()) {
    if (!chunk_is_free(base, size, false)) continue;
    for (block* b = blocks_.containing(base); b != nullptr && b->base < base + size;
         b = blocks_.adjacent_after(*b)) {
      stream_state* stream = b->stream;
      if (stream == nullptr) continue;
      const bool known = std::any_of(waits.begin(), waits.end(),
                                     [&](const pending_wait& w) { return w.stream == stream; });
      if (known) continue;
      record_frees(*stream);
      waits.push_back({stream, stream->event_covers});
    }
  }
  // And the last users of idle alias ranges, which trim unmaps too.
  for (const alias_range& range : aliases_) {
    stream_state* stream = range.user == nullptr ? range.last_stream : nullptr;
    if (stream == nullptr || std::any_of(waits.begin(), waits.end(), [&](const pending_wait& w) {
          return w.stream == stream;
        })) {
      continue;
    }
    record_frees(*stream);
    waits.push_back({stream, stream->event_covers});
  }
  if (!waits.empty()) {
    lock.unlock();
    for (const pending_wait& wait : waits) wait.stream->done.synchronize();
    lock.lock();
    for (const pending_wait& wait : waits) {
      if (wait.stream->event_covers == wait.covers) wait.stream->event_complete = true;
      settle_covered(*wait.stream, wait.covers);
    }
  }
  address_list retiring(&bookkeeping_);
  for (auto range = aliases_.begin(); range != aliases_.end();) {
    auto next = std::next(range);
    if (range->user == nullptr && alias_range_done(*range)) retire(range, retiring);
    range = next;
  }
  if (!retiring.empty()) {
    address_list no_chunks(&bookkeeping_);
    unmap_retired(lock, retiring, no_chunks);
  }
  return release_free_chunks(lock, bytes_to_keep);
}

std::size_t stream_ordered_pool::trim_without_waiting() noexcept {
  try {
    std::unique_lock lock(lock_);
    const std::size_t threshold = settings_.release_threshold.value_or(0);
    std::size_t released = 0;
    // Nothing is unmapped while a graph is being captured.
    if (capturing_stream() == nullptr) {
      flush_all_caches();
      settle_completed_streams();
      released = release_free_chunks(lock, threshold);
    }
    // What could not be released yet (still in use on its stream, or in chunks that hold
    // live blocks) is tried again once the cache has grown by another chunk, or after a
    // number of frees (by then the streams' work may have completed).
    auto_trim_trigger_ =
        stats_.cached_bytes > threshold ? stats_.cached_bytes + settings_.min_chunk_size : 0;
    frees_since_auto_trim_ = 0;
    return released;
  } catch (const std::exception& failure) {
    report_cleanup_error("automatic trim of a stream_ordered_resource", failure);
    return 0;
  }
}

// ---- end of life ----

std::vector<leaked_block> stream_ordered_pool::shut_down() {
  std::unique_lock lock(lock_);
  flush_all_caches();
  std::pmr::vector<stream_state*> busy(&bookkeeping_);
  for (stream_state& stream : streams_) {
    if (!stream.free_blocks.empty()) busy.push_back(&stream);
  }
  // Alias ranges are unmapped too: their last users' work is waited for first.
  for (const alias_range& range : aliases_) {
    if (range.user == nullptr && range.last_stream != nullptr &&
        std::find(busy.begin(), busy.end(), range.last_stream) == busy.end()) {
      busy.push_back(range.last_stream);
    }
  }
  std::vector<leaked_block> leaked;
  blocks_.for_each([&](const block& b) {
    if (b.state == block_state::live) leaked.push_back({b.base, b.requested, b.size});
  });
  lock.unlock();

  // Memory freed on a stream is unmapped only after that stream's work is done.
  for (stream_state* stream : busy) {
    try {
      if (driver_.stream_is_capturing(stream->stream)) {
        throw error(to_string(stream->stream) +
                    " is capturing a CUDA graph: its frees cannot be waited for");
      }
      record_frees(*stream);
      stream->done.synchronize();
    } catch (const std::exception& failure) {
      report_cleanup_error(
          "waiting for " + to_string(stream->stream) + " before unmapping its freed blocks",
          failure);
    }
  }
  // Unmaps and releases every chunk (outside the registry's lock); the reservation goes
  // with the pool.
  registry_.release_all(owner_).first.clear();
  return leaked;
}

// ---- statistics ----

stream_ordered_stats stream_ordered_pool::stats() const {
  std::lock_guard lock(lock_);
  stream_ordered_stats copy = stats_;
  copy.mapped_bytes = space_.mapped_bytes();
  copy.chunk_count = space_.chunks().size();
  copy.alias_ranges = aliases_.size();
  copy.alias_bytes = alias_bytes_;
  return copy;
}

std::vector<stream_usage> stream_ordered_pool::stream_stats() const {
  std::lock_guard lock(lock_);
  std::vector<stream_usage> usages;
  usages.reserve(streams_.size());
  for (const stream_state& stream : streams_) {
    usages.push_back(stream.usage);
    usages.back().cached_bytes = stream.cached_bytes();
  }
  return usages;
}

}  // namespace vmm_pmr::detail
