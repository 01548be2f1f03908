#include "stream_ordered/pool/address_space.hpp"

#include <cassert>
#include <iterator>

namespace vmm_pmr::detail {

address_space::address_space(address base, std::size_t size, std::pmr::memory_resource* memory)
    : base_(base), size_(size), holes_(memory), chunks_(memory), abandoned_(memory) {
  holes_.emplace(base, size);
}

void address_space::take(address at, std::size_t size) {
  auto hole = holes_.upper_bound(at);
  assert(hole != holes_.begin());
  --hole;
  const address hole_base = hole->first;
  const address hole_end = hole_base + hole->second;
  assert(at >= hole_base && at + size <= hole_end);
  holes_.erase(hole);
  if (at > hole_base) holes_.emplace(hole_base, at - hole_base);
  if (at + size < hole_end) holes_.emplace(at + size, hole_end - (at + size));
}

void address_space::give_back(address at, std::size_t size) {
  address merged_base = at;
  std::size_t merged_size = size;
  auto next = holes_.lower_bound(at);
  if (next != holes_.end() && next->first == at + size) {
    merged_size += next->second;
    next = holes_.erase(next);
  }
  if (next != holes_.begin()) {
    const auto previous = std::prev(next);
    if (previous->first + previous->second == at) {
      merged_base = previous->first;
      merged_size += previous->second;
      holes_.erase(previous);
    }
  }
  holes_.emplace(merged_base, merged_size);
}

void address_space::add_chunk(address at, std::size_t size) {
  chunks_.emplace(at, size);
  mapped_bytes_ += size;
}

void address_space::remove_chunk(address at) {
  const auto chunk = chunks_.find(at);
  assert(chunk != chunks_.end());
  mapped_bytes_ -= chunk->second;
  chunks_.erase(chunk);
}

}  // namespace vmm_pmr::detail
