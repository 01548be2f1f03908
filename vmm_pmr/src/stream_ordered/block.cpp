#include "block.hpp"

#include <bit>
#include <cassert>
#include <iterator>

namespace vmm_pmr::detail {

namespace {

constexpr std::size_t initial_slots = 64;

}  // namespace

block_index::block_index(std::pmr::memory_resource* memory)
    : slots_(initial_slots, slot{}, memory),
      mask_(initial_slots - 1),
      shift_(64 - std::countr_zero(initial_slots)) {}

void block_index::insert(address base, block* value) {
  assert(base != 0);
  if (2 * (count_ + 1) > slots_.size()) grow();
  std::size_t i = home_of(base);
  while (slots_[i].base != 0) {
    assert(slots_[i].base != base);
    i = (i + 1) & mask_;
  }
  slots_[i] = {base, value};
  ++count_;
}

void block_index::erase(address base) noexcept {
  std::size_t hole = home_of(base);
  while (slots_[hole].base != base) {
    if (slots_[hole].base == 0) return;
    hole = (hole + 1) & mask_;
  }
  // Backward shift: move later entries of the probe run into the hole when their home
  // lies at or before it (cyclically), so every entry stays reachable from its home.
  for (std::size_t next = (hole + 1) & mask_; slots_[next].base != 0; next = (next + 1) & mask_) {
    const std::size_t home = home_of(slots_[next].base);
    if (((next - home) & mask_) >= ((next - hole) & mask_)) {
      slots_[hole] = slots_[next];
      hole = next;
    }
  }
  slots_[hole] = {};
  --count_;
}

void block_index::grow() {
  std::pmr::vector<slot> previous(2 * slots_.size(), slot{}, slots_.get_allocator());
  previous.swap(slots_);  // slots_ is now the larger, empty table
  mask_ = slots_.size() - 1;
  shift_ = 64 - std::countr_zero(slots_.size());
  count_ = 0;
  for (const slot& entry : previous) {
    if (entry.base != 0) insert(entry.base, entry.value);
  }
}

block& block_map::insert(const block& description) {
  const auto [position, inserted] = blocks_.emplace(description.base, description);
  assert(inserted);
  index_.insert(description.base, &position->second);
  return position->second;
}

void block_map::erase(const block& b) {
  const address base = b.base;
  index_.erase(base);
  blocks_.erase(base);
}

block* block_map::containing(address at) {
  auto after = blocks_.upper_bound(at);
  if (after == blocks_.begin()) return nullptr;
  block& candidate = std::prev(after)->second;
  return at < candidate.end() ? &candidate : nullptr;
}

block* block_map::adjacent_before(const block& b) {
  const auto position = blocks_.find(b.base);
  if (position == blocks_.begin()) return nullptr;
  block& previous = std::prev(position)->second;
  return previous.end() == b.base ? &previous : nullptr;
}

block* block_map::adjacent_after(const block& b) {
  const auto next = blocks_.upper_bound(b.base);
  if (next == blocks_.end() || next->second.base != b.end()) return nullptr;
  return &next->second;
}

block& block_map::split(block& b, address at) {
  assert(at > b.base && at < b.end());
  block tail = b;
  tail.base = at;
  tail.size = b.end() - at;
  tail.next_cached = nullptr;
  b.size = at - b.base;
  return insert(tail);
}

void block_map::absorb(block& b, block& next) {
  assert(b.end() == next.base);
  b.size += next.size;
  erase(next);
}

}  // namespace vmm_pmr::detail
