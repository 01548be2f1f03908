// Alias ranges of a bounded pool: making, reusing, returning and retiring them. The
// mechanism and its invariants are in alias_range.hpp; when growth makes one, in
// bounded_growth.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <optional>
#include <utility>
#include <vector>

#include "stream_ordered/pool/stream_ordered_pool.hpp"
#include "vmm_pmr/core/byte_size.hpp"
#include "vmm_pmr/core/cleanup_errors.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/handles/mapping.hpp"
#include "vmm_pmr/handles/physical_memory.hpp"

namespace vmm_pmr::detail {
namespace {

// The alias ranges may map up to this many times the pool's memory. A repeating workload
// needs a few times the ranges' worth at most before its set of ranges stops changing (the
// churn traces of the benchmark settle at 1.5-3); a mapping costs no memory, only page
// tables and the driver's bookkeeping, and an unmap when it goes.
constexpr std::size_t alias_bytes_per_mapped_byte = 4;

}  // namespace

std::size_t stream_ordered_pool::chunks_for(std::size_t block_size) const noexcept {
  const std::size_t chunk = settings_.min_chunk_size;
  return block_size / chunk + (block_size % chunk != 0 ? 1 : 0);
}

std::pmr::vector<stream_ordered_pool::usable_chunk> stream_ordered_pool::usable_chunks(
    const stream_state& stream) {
  const std::size_t chunk = settings_.min_chunk_size;
  std::pmr::vector<usable_chunk> found(&bookkeeping_);
  blocks_.for_each([&](block& b) {
    if (!b.is_free() || (b.stream != &stream && b.stream != nullptr)) return;
    const address first = space_.base() + (b.base - space_.base() + chunk - 1) / chunk * chunk;
    for (address home = first; home < b.end() && b.end() - home >= chunk; home += chunk) {
      found.push_back({home, &b});
    }
  });
  return found;
}

block* stream_ordered_pool::take_idle_alias_range(stream_state& stream, std::size_t block_size,
                                                  std::size_t alignment) {
  const std::size_t wanted = chunks_for(block_size);
  const auto fits = [&](const alias_range& range) {
    return range.user == nullptr && range.homes.size() == wanted && range.base % alignment == 0;
  };
  if (std::none_of(aliases_.begin(), aliases_.end(), fits)) return nullptr;
  const std::pmr::vector<usable_chunk> usable = usable_chunks(stream);
  const auto holder_of = [&](address home) -> block* {
    const auto found = std::lower_bound(
        usable.begin(), usable.end(), home,
        [](const usable_chunk& chunk, address wanted_home) { return chunk.home < wanted_home; });
    return found != usable.end() && found->home == home ? found->holder : nullptr;
  };
  for (auto range = aliases_.begin(); range != aliases_.end(); ++range) {
    if (!fits(*range)) continue;
    std::pmr::vector<usable_chunk> chunks(&bookkeeping_);
    for (const address home : range->homes) {
      block* holder = holder_of(home);
      if (holder == nullptr) break;
      chunks.push_back({home, holder});
    }
    if (chunks.size() != wanted) continue;
    lend_chunks(chunks);
    aliases_.splice(aliases_.begin(), aliases_, range);
    block& user = blocks_.insert({.base = range->base,
                                  .size = wanted * settings_.min_chunk_size,
                                  .state = block_state::reserved,
                                  .stream = nullptr,
                                  .alias = &*range});
    range->user = &user;
    return &user;
  }
  return nullptr;
}

std::pmr::vector<stream_ordered_pool::usable_chunk> stream_ordered_pool::chunks_to_borrow(
    const stream_state& stream, std::size_t wanted) {
  std::pmr::vector<usable_chunk> found = usable_chunks(stream);
  std::sort(found.begin(), found.end(), [](const usable_chunk& a, const usable_chunk& b) {
    return a.holder->size != b.holder->size ? a.holder->size < b.holder->size : a.home > b.home;
  });
  if (found.size() > wanted) found.resize(wanted);
  return found;
}

void stream_ordered_pool::lend_chunks(std::pmr::vector<usable_chunk>& chunks) {
  const std::size_t chunk = settings_.min_chunk_size;
  std::sort(chunks.begin(), chunks.end(),
            [](const usable_chunk& a, const usable_chunk& b) { return a.home > b.home; });
  for (const auto& [home, holder] : chunks) {
    free_list& list = list_of(holder->stream);
    list.erase(*holder);
    block* lent = holder;
    if (home > holder->base) {
      lent = &blocks_.split(*holder, home);
      list.insert(*holder);
    }
    if (lent->size > chunk) list.insert(blocks_.split(*lent, home + chunk));
    // Keeps its stream and free_sequence: a range that cannot be made gives it back so.
    lent->state = block_state::lent;
  }
}

void stream_ordered_pool::return_alias_range(block& user, stream_state* stream) {
  alias_range& range = *user.alias;
  assert(range.user == &user);
  for (const address home : range.homes) {
    block* lent = blocks_.find(home);
    assert(lent != nullptr && lent->state == block_state::lent);
    lent->free_sequence = user.free_sequence;
    release_into(*lent, stream);
  }
  range.user = nullptr;
  range.last_stream = stream;
  range.last_free_sequence = user.free_sequence;
  blocks_.erase(user);
}

bool stream_ordered_pool::alias_range_done(const alias_range& range) {
  stream_state* const stream = range.last_stream;
  if (stream == nullptr) return true;
  const auto covered = [&] {
    return stream->event_recorded && stream->event_complete &&
           stream->event_covers >= range.last_free_sequence;
  };
  if (covered()) return true;
  // An event recorded on a capturing stream would become a node of its graph.
  if (driver_.stream_is_capturing(stream->stream)) return false;
  record_frees(*stream);
  if (!stream->event_complete && stream->done.complete()) stream->event_complete = true;
  return covered();
}

void stream_ordered_pool::retire(std::pmr::list<alias_range>::iterator range,
                                 address_list& retiring) {
  const std::size_t bytes = range->homes.size() * settings_.min_chunk_size;
  retiring.emplace_back(range->base, bytes);
  alias_bytes_ -= bytes;
  aliases_.erase(range);
}

void stream_ordered_pool::make_room_for_alias_range(std::unique_lock<spin_lock>& lock,
                                                    std::size_t range_bytes) {
  const std::size_t share = alias_bytes_per_mapped_byte * space_.mapped_bytes();
  const auto hole_holds_range = [&] {
    return std::any_of(space_.holes().begin(), space_.holes().end(),
                       [&](const auto& hole) { return hole.second >= range_bytes; });
  };
  bool hole_found = hole_holds_range();
  // retire() takes a range's bytes out of alias_bytes_ at once.
  const auto enough = [&] { return alias_bytes_ + range_bytes <= share && hole_found; };
  if (enough() || capturing_stream() != nullptr) return;  // nothing is unmapped during a capture
  address_list retiring(&bookkeeping_);
  // The least recently used first.
  for (auto range = aliases_.end(); range != aliases_.begin() && !enough();) {
    --range;
    if (range->user != nullptr || !alias_range_done(*range)) continue;
    const std::size_t bytes = range->homes.size() * settings_.min_chunk_size;
    // Its addresses become a hole at least as large.
    hole_found = hole_found || bytes >= range_bytes;
    auto retired = range;
    ++range;
    retire(retired, retiring);
  }
  if (retiring.empty()) return;
  address_list no_chunks(&bookkeeping_);
  unmap_retired(lock, retiring, no_chunks);
}

void stream_ordered_pool::unmap_retired(std::unique_lock<spin_lock>& lock, address_list& retiring,
                                        address_list& releasing) {
  // Made under the lock: bookkeeping_ is not thread-safe (ThreadSanitizer caught a vector
  // being allocated from it while another thread allocated under the lock).
  std::pmr::vector<bool> reusable(retiring.size() + releasing.size(), true, &bookkeeping_);
  // Whether the registry's entry at `base` went without a cleanup error. A range that may
  // still be mapped would make every later map into it fail: it is left out of the holes
  // for good (the cleanup report says why).
  const auto unmapped = [&](address base, std::size_t size, const char* what) {
    const std::size_t failures_before = cleanup_error_count();
    removal outcome = registry_.remove(owner_, reinterpret_cast<void*>(base), size);
    if (outcome.status != removal_status::removed) {
      report_cleanup_error(fmt::format("unmap {} {:#x} ({})", what, base, format_bytes(size)),
                           error(fmt::format("the mapping registry no longer knew the {}", what)));
    }
    outcome.allocation = vmm_allocation();  // unmaps (a chunk's memory is released too)
    return cleanup_error_count() == failures_before;
  };
  lock.unlock();
  // The ranges first: the chunks' memory then goes with their own mappings.
  std::size_t i = 0;
  for (const auto& [base, size] : retiring) reusable[i++] = unmapped(base, size, "alias range");
  for (const auto& [base, size] : releasing) reusable[i++] = unmapped(base, size, "chunk");
  lock.lock();
  i = 0;
  for (const address_list* unmapping : {&retiring, &releasing}) {
    for (const auto& [base, size] : *unmapping) {
      if (reusable[i++]) {
        space_.give_back(base, size);
      } else {
        space_.abandon(base, size);
      }
    }
  }
  stats_.alias_ranges_retired += retiring.size();
}

std::optional<address> stream_ordered_pool::highest_slot_in(address hole_base,
                                                            std::size_t hole_size,
                                                            std::size_t bytes,
                                                            std::size_t alignment) const noexcept {
  const std::size_t chunk = settings_.min_chunk_size;
  if (hole_size < bytes) return std::nullopt;
  const address top = hole_base + hole_size - bytes;
  const auto on_grid = [&](address at) { return (at - space_.base()) % chunk == 0; };
  // Slots and multiples of the alignment meet once every lcm(chunk, alignment) bytes:
  // stepping down by the larger of the two finds a meeting within a few steps, since the
  // reservation's base is aligned to the largest power of two that divides the chunk.
  const std::size_t step = std::max(chunk, alignment);
  address at = alignment > chunk ? top / alignment * alignment
                                 : space_.base() + (top - space_.base()) / chunk * chunk;
  while (at >= hole_base) {
    if (on_grid(at) && at % alignment == 0) return at;
    if (at - hole_base < step) break;
    at -= step;
  }
  return std::nullopt;
}

void* stream_ordered_pool::allocate_in_new_alias_range(std::unique_lock<spin_lock>& lock,
                                                       stream_state& stream, std::size_t bytes,
                                                       std::size_t alignment,
                                                       std::pmr::vector<usable_chunk> borrowed,
                                                       std::size_t fresh) {
  const std::size_t chunk = settings_.min_chunk_size;
  const std::size_t wanted = borrowed.size() + fresh;
  const std::size_t range_bytes = wanted * chunk;

  // The highest hole that holds the range (growth takes the lowest), and the lowest chunk
  // slots for the new chunks.
  std::optional<address> base;
  for (auto hole = space_.holes().rbegin(); hole != space_.holes().rend() && !base; ++hole) {
    base = highest_slot_in(hole->first, hole->second, range_bytes, alignment);
  }
  if (!base) return nullptr;
  space_.take(*base, range_bytes);
  std::pmr::vector<address> fresh_homes(&bookkeeping_);
  for (auto hole = space_.holes().begin(); hole != space_.holes().end(); ++hole) {
    const address hole_end = hole->first + hole->second;
    address slot = space_.base() + (hole->first - space_.base() + chunk - 1) / chunk * chunk;
    for (; fresh_homes.size() < fresh && slot < hole_end && hole_end - slot >= chunk;
         slot += chunk) {
      fresh_homes.push_back(slot);
    }
    if (fresh_homes.size() == fresh) break;
  }
  if (fresh_homes.size() < fresh) {
    space_.give_back(*base, range_bytes);
    return nullptr;
  }
  for (const address slot : fresh_homes) space_.take(slot, chunk);
  // The borrowed chunks are lent now, so no other request takes them meanwhile (their
  // order in the range does not matter).
  lend_chunks(borrowed);
  std::pmr::vector<address> homes(&bookkeeping_);
  homes.reserve(wanted);
  for (const usable_chunk& lent : borrowed) homes.push_back(lent.home);

  // The driver's part, without the lock: the new chunks in the pool's chunks, then every
  // chunk mapped again in the range, access granted once over it.
  lock.unlock();
  std::vector<address> registered;
  try {
    std::vector<physical_handle> handles;
    handles.reserve(wanted);
    for (const address home : homes) {
      const std::optional<allocation_info> holder =
          registry_.find(reinterpret_cast<const void*>(home));
      assert(holder && holder->base == home && holder->chunks.size() == 1);
      handles.push_back(holder->chunks.front().handle);
    }
    std::vector<mapped_chunk> made;
    made.reserve(fresh);
    for (const address slot : fresh_homes) {
      physical_memory backing(driver_, chunk, settings_.properties);
      mapping mapped(driver_, slot, backing, 0, chunk);
      driver_.set_access(slot, chunk, settings_.access);
      handles.push_back(backing.handle());
      made.push_back({std::move(backing), std::move(mapped)});
    }
    std::vector<mapped_chunk> aliases;
    aliases.reserve(wanted);
    for (std::size_t i = 0; i < wanted; ++i) {
      aliases.push_back(
          {physical_memory(), mapping(driver_, *base + i * chunk, handles[i], 0, chunk)});
    }
    driver_.set_access(*base, range_bytes, settings_.access);
    registered.reserve(fresh);
    for (mapped_chunk& chunk_made : made) {
      const address home = chunk_made.map.base();
      register_chunk(std::move(chunk_made));
      registered.push_back(home);
    }
    // No reservation of its own either; its memory is the chunks' (counted there).
    registry_.add(owner_, vmm_allocation({}, std::move(aliases)),
                  {.requested_bytes = range_bytes,
                   .alignment = std::max(alignment, settings_.granularity),
                   .location = settings_.properties.location,
                   .compressed = false,
                   .imported = false,
                   .aliased = true});
  } catch (...) {
    for (const address home : registered) {
      registry_.remove(owner_, reinterpret_cast<void*>(home), chunk).allocation = vmm_allocation();
    }
    lock.lock();
    space_.give_back(*base, range_bytes);
    for (const address slot : fresh_homes) space_.give_back(slot, chunk);
    // The borrowed chunks are free again, as they were.
    for (const address home : homes) {
      block* lent = blocks_.find(home);
      release_into(*lent, lent->stream);
    }
    throw;
  }
  lock.lock();

  for (const address slot : fresh_homes) {
    space_.add_chunk(slot, chunk);
    // Fresh memory, lent at once: no stream has used it.
    blocks_.insert({.base = slot, .size = chunk, .state = block_state::lent, .stream = nullptr});
  }
  stats_.chunks_mapped += fresh;
  stats_.cached_bytes += fresh * chunk;
  stats_.peak_mapped_bytes = std::max(stats_.peak_mapped_bytes, space_.mapped_bytes());
  ++stats_.grown_allocations;  // it made driver calls, whether or not it mapped new memory
  homes.insert(homes.end(), fresh_homes.begin(), fresh_homes.end());
  alias_range& range = aliases_.emplace_front(*base, std::move(homes));
  alias_bytes_ += range_bytes;
  ++stats_.alias_ranges_made;
  stats_.alias_chunks_mapped += wanted;
  block& user = blocks_.insert({.base = *base,
                                .size = range_bytes,
                                .state = block_state::reserved,
                                .stream = nullptr,
                                .alias = &range});
  range.user = &user;
  hand_out(user, stream, bytes);
  return reinterpret_cast<void*>(user.base);
}

}  // namespace vmm_pmr::detail
