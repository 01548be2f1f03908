// Making an alias range (alias_range.hpp) for a request past a bounded pool's footprint
// limit, by the growth protocol (growth_protocol.hpp): its addresses in the highest hole
// that holds it, the borrowed chunks lent, any missing chunks mapped at the lowest free
// slots, then every chunk mapped again, back to back, in the range.
//
// Invariant: a range is made whole or not at all; if a driver call fails, its addresses
// and new slots go back to the holes and the borrowed chunks are free again as they were.
#include <algorithm>
#include <cassert>
#include <optional>
#include <utility>
#include <vector>

#include "stream_ordered/pool/growth_protocol.hpp"
#include "vmm_pmr/handles/mapping.hpp"
#include "vmm_pmr/handles/physical_memory.hpp"

namespace vmm_pmr::detail {

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

std::optional<stream_ordered_pool::alias_placement> stream_ordered_pool::place_alias_range(
    std::size_t range_bytes, std::size_t alignment, std::size_t fresh) {
  const std::size_t chunk = settings_.min_chunk_size;
  std::optional<address> base;
  for (auto hole = space_.holes().rbegin(); hole != space_.holes().rend() && !base; ++hole) {
    base = highest_slot_in(hole->first, hole->second, range_bytes, alignment);
  }
  if (!base) return std::nullopt;
  space_.take(*base, range_bytes);
  alias_placement placement{*base, std::pmr::vector<address>(&bookkeeping_)};
  std::pmr::vector<address>& homes = placement.fresh_homes;
  for (auto hole = space_.holes().begin(); hole != space_.holes().end(); ++hole) {
    const address hole_end = hole->first + hole->second;
    address slot = space_.base() + (hole->first - space_.base() + chunk - 1) / chunk * chunk;
    for (; homes.size() < fresh && slot < hole_end && hole_end - slot >= chunk; slot += chunk) {
      homes.push_back(slot);
    }
    if (homes.size() == fresh) break;
  }
  if (homes.size() < fresh) {
    space_.give_back(*base, range_bytes);
    return std::nullopt;
  }
  for (const address slot : homes) space_.take(slot, chunk);
  return placement;
}

void stream_ordered_pool::map_alias_range(const alias_placement& placement,
                                          const std::pmr::vector<address>& homes,
                                          std::size_t alignment, registered_chunks& registered) {
  const std::size_t chunk = settings_.min_chunk_size;
  const std::size_t wanted = homes.size() + placement.fresh_homes.size();
  std::vector<physical_handle> handles;
  handles.reserve(wanted);
  for (const address home : homes) {
    const std::optional<allocation_info> holder =
        registry_.find(reinterpret_cast<const void*>(home));
    assert(holder && holder->base == home && holder->chunks.size() == 1);
    handles.push_back(holder->chunks.front().handle);
  }
  std::vector<mapped_chunk> made;
  made.reserve(placement.fresh_homes.size());
  for (const address slot : placement.fresh_homes) {
    mapped_chunk built = build_chunk(slot, chunk);
    driver_.set_access(slot, chunk, settings_.access);
    handles.push_back(built.memory.handle());
    made.push_back(std::move(built));
  }
  std::vector<mapped_chunk> aliases;
  aliases.reserve(wanted);
  for (std::size_t i = 0; i < wanted; ++i) {
    aliases.push_back(
        {physical_memory(), mapping(driver_, placement.base + i * chunk, handles[i], 0, chunk)});
  }
  driver_.set_access(placement.base, wanted * chunk, settings_.access);
  register_chunks(made, registered);
  // No reservation of its own either; its memory is the chunks' (counted there).
  registry_.add(owner_, vmm_allocation({}, std::move(aliases)),
                {.requested_bytes = wanted * chunk,
                 .alignment = std::max(alignment, settings_.granularity),
                 .location = settings_.properties.location,
                 .compressed = false,
                 .imported = false,
                 .aliased = true});
}

void* stream_ordered_pool::allocate_in_new_alias_range(std::unique_lock<spin_lock>& lock,
                                                       stream_state& stream, std::size_t bytes,
                                                       std::size_t alignment,
                                                       std::pmr::vector<usable_chunk> borrowed,
                                                       std::size_t fresh) {
  const std::size_t chunk = settings_.min_chunk_size;
  const std::size_t range_bytes = (borrowed.size() + fresh) * chunk;
  std::optional<alias_placement> placement = place_alias_range(range_bytes, alignment, fresh);
  if (!placement) return nullptr;
  // The borrowed chunks are lent now, so no other request takes them meanwhile (their
  // order in the range does not matter).
  lend_chunks(borrowed);
  std::pmr::vector<address> homes(&bookkeeping_);
  homes.reserve(borrowed.size() + fresh);
  for (const usable_chunk& lent : borrowed) homes.push_back(lent.home);
  map_without_lock(
      lock,
      [&](registered_chunks& registered) {
        map_alias_range(*placement, homes, alignment, registered);
      },
      [&] {
        space_.give_back(placement->base, range_bytes);
        for (const address slot : placement->fresh_homes) space_.give_back(slot, chunk);
        // The borrowed chunks are free again, as they were.
        for (const address home : homes) {
          block* lent = blocks_.find(home);
          release_into(*lent, lent->stream);
        }
      });
  block& user = add_alias_range(*placement, std::move(homes));
  count_growth(fresh, fresh * chunk);
  hand_out(user, stream, bytes);
  return reinterpret_cast<void*>(user.base);
}

block& stream_ordered_pool::add_alias_range(const alias_placement& placement,
                                            std::pmr::vector<address> homes) {
  const std::size_t chunk = settings_.min_chunk_size;
  for (const address slot : placement.fresh_homes) {
    add_mapped_chunk(slot, chunk, block_state::lent);  // lent at once: no stream has used it
  }
  homes.insert(homes.end(), placement.fresh_homes.begin(), placement.fresh_homes.end());
  const std::size_t chunks = homes.size();
  aliases_.emplace_front(placement.base, std::move(homes));
  alias_bytes_ += chunks * chunk;
  ++stats_.alias_ranges_made;
  stats_.alias_chunks_mapped += chunks;
  return use_alias_range(aliases_.begin());
}

}  // namespace vmm_pmr::detail
