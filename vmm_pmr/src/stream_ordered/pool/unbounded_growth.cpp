// Growth without a footprint limit: one new chunk per growth, in the lowest hole where the
// request fits (first fit), sized in proportion to what is mapped already.
//
// Invariant: a chunk is a whole number of granules, between min_chunk_size and
// max_chunk_size unless the request needs more; a free block of the requesting stream (or
// an ownerless one) that ends at the hole is extended by the chunk rather than left behind,
// so the chunk maps only what that block lacks.
#include <algorithm>

#include "stream_ordered/pool/growth_protocol.hpp"
#include "stream_ordered/pool/size_classes.hpp"
#include "vmm_pmr/core/byte_size.hpp"

namespace vmm_pmr::detail {
namespace {

// Growth aims to map at most this fraction more than is needed (1/16: 6.25%).
constexpr std::size_t growth_divisor = 16;

}  // namespace

std::size_t stream_ordered_pool::preferred_chunk_size() const noexcept {
  if (bounded()) return settings_.min_chunk_size;
  const std::size_t proportional =
      round_up(space_.mapped_bytes() / growth_divisor, settings_.granularity).value_or(0);
  return std::max(settings_.min_chunk_size, std::min(settings_.max_chunk_size, proportional));
}

std::pair<block*, address> stream_ordered_pool::extendable_before(address hole_base,
                                                                  const stream_state& stream,
                                                                  std::size_t alignment) {
  if (hole_base == space_.base()) return {nullptr, 0};
  block* before = blocks_.containing(hole_base - 1);
  if (before == nullptr || !before->is_free() ||
      (before->stream != &stream && before->stream != nullptr)) {
    return {nullptr, 0};
  }
  const address placement = placement_in(*before, alignment);
  if (placement < before->base || placement >= hole_base) return {nullptr, 0};
  return {before, placement};
}

stream_ordered_pool::growth_plan stream_ordered_pool::plan_growth(const stream_state& stream,
                                                                  std::size_t block_size,
                                                                  std::size_t alignment) {
  const std::size_t preferred = preferred_chunk_size();
  // First fit over the holes: the lowest address where the request fits.
  for (const auto& [hole_base, hole_size] : space_.holes()) {
    auto [extended, start] = extendable_before(hole_base, stream, alignment);
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

void* stream_ordered_pool::allocate_by_growing(std::unique_lock<spin_lock>& lock,
                                               stream_state& stream, std::size_t bytes,
                                               std::size_t block_size, std::size_t alignment) {
  const growth_plan plan = plan_growth(stream, block_size, alignment);
  space_.take(plan.chunk_base, plan.chunk_size);
  if (plan.extended != nullptr) {
    list_of(plan.extended->stream).erase(*plan.extended);
    plan.extended->state = block_state::set_aside;
  }
  map_without_lock(
      lock,
      [&](registered_chunks& registered) {
        std::vector<mapped_chunk> built;
        built.push_back(build_chunk(plan.chunk_base, plan.chunk_size));
        driver_.set_access(plan.chunk_base, plan.chunk_size, settings_.access);
        register_chunks(built, registered);
      },
      [&] {
        space_.give_back(plan.chunk_base, plan.chunk_size);
        if (plan.extended != nullptr) release_into(*plan.extended, plan.extended->stream);
      });

  block& fresh = add_mapped_chunk(plan.chunk_base, plan.chunk_size, block_state::set_aside);
  count_growth(1, plan.chunk_size);
  block* region = &fresh;
  if (plan.extended != nullptr) {
    blocks_.absorb(*plan.extended, fresh);
    region = plan.extended;
  }
  // Before the request: part of the extended block (its stream), or fresh memory; after
  // it: always inside the fresh chunk, so ownerless.
  return hand_out_from(*region, placement_in(*region, alignment), block_size, stream, bytes, true);
}

}  // namespace vmm_pmr::detail
