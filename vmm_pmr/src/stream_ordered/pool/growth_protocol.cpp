// The steps of the growth protocol that every growth path shares (growth_protocol.hpp).
#include "stream_ordered/pool/growth_protocol.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "stream_ordered/pool/size_classes.hpp"
#include "vmm_pmr/core/byte_size.hpp"
#include "vmm_pmr/handles/mapping.hpp"
#include "vmm_pmr/handles/physical_memory.hpp"

namespace vmm_pmr::detail {

mapped_chunk stream_ordered_pool::build_chunk(address base, std::size_t size) {
  // Each step's RAII object undoes it if a later step throws.
  physical_memory memory(driver_, size, settings_.properties);
  mapping mapped(driver_, base, memory, 0, size);
  return {std::move(memory), std::move(mapped)};
}

void stream_ordered_pool::register_chunks(std::vector<mapped_chunk>& built,
                                          registered_chunks& registered) {
  registered.reserve(registered.size() + built.size());
  for (mapped_chunk& chunk : built) {
    const address base = chunk.map.base();
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
    registered.emplace_back(base, size);
  }
}

void stream_ordered_pool::unregister_chunks(const registered_chunks& registered) noexcept {
  // Dropping the registry's entry unmaps the chunk and releases its memory.
  for (const auto& [base, size] : registered) {
    registry_.remove(owner_, reinterpret_cast<void*>(base), size).allocation = vmm_allocation();
  }
}

block& stream_ordered_pool::add_mapped_chunk(address base, std::size_t size, block_state state) {
  space_.add_chunk(base, size);
  // Fresh memory: no stream has used it.
  return blocks_.insert({.base = base, .size = size, .state = state, .stream = nullptr});
}

void stream_ordered_pool::count_growth(std::size_t chunks, std::size_t bytes) noexcept {
  // A growth counts as one even when it mapped no new chunk: it made driver calls.
  ++stats_.grown_allocations;
  stats_.chunks_mapped += chunks;
  stats_.cached_bytes += bytes;
  stats_.peak_mapped_bytes = std::max(stats_.peak_mapped_bytes, space_.mapped_bytes());
}

void* stream_ordered_pool::hand_out_from(block& region, address start, std::size_t block_size,
                                         stream_state& stream, std::size_t bytes,
                                         bool rest_is_fresh) {
  block* taken = &region;
  if (start > region.base) {
    taken = &blocks_.split(region, start);
    release_into(region, region.stream);
  }
  if (taken->size > block_size) {
    block& rest = blocks_.split(*taken, taken->base + block_size);
    if (rest_is_fresh) {
      rest.stream = nullptr;
      rest.free_sequence = 0;
    }
    release_into(rest, rest.stream);
  }
  hand_out(*taken, stream, bytes);
  return reinterpret_cast<void*>(taken->base);
}

out_of_memory stream_ordered_pool::no_room_for(std::size_t block_size,
                                               std::size_t alignment) const {
  return out_of_memory(
      fmt::format("no free range of the {} reservation holds {} at alignment {} (mapped: {})",
                  format_bytes(space_.size()), format_bytes(block_size), alignment,
                  format_bytes(space_.mapped_bytes())));
}

}  // namespace vmm_pmr::detail
