#include "stream_ordered/pool/block.hpp"

#include <bit>
#include <cassert>

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

block_map::~block_map() {
  while (lowest_ != nullptr) erase(*lowest_);
}

void block_map::link_after(block* lower, block& b) noexcept {
  b.lower = lower;
  b.higher = lower == nullptr ? lowest_ : lower->higher;
  if (b.higher != nullptr) b.higher->lower = &b;
  (lower == nullptr ? lowest_ : lower->higher) = &b;
  ++count_;
}

block& block_map::insert(const block& description) {
  // The block below the new one: the last whose base is lower (a walk, off the hot path).
  block* lower = nullptr;
  for (block* b = lowest_; b != nullptr && b->base < description.base; b = b->higher) lower = b;
  assert(lower == nullptr || lower->end() <= description.base);
  block* const created = memory_.new_object<block>(description);
  index_.insert(created->base, created);
  link_after(lower, *created);
  return *created;
}

void block_map::erase(block& b) {
  index_.erase(b.base);
  (b.lower == nullptr ? lowest_ : b.lower->higher) = b.higher;
  if (b.higher != nullptr) b.higher->lower = b.lower;
  --count_;
  memory_.delete_object(&b);
}

block* block_map::containing(address at) {
  for (block* b = lowest_; b != nullptr && b->base <= at; b = b->higher) {
    if (at < b->end()) return b;
  }
  return nullptr;
}

block* block_map::adjacent_before(const block& b) {
  return b.lower != nullptr && b.lower->end() == b.base ? b.lower : nullptr;
}

block* block_map::adjacent_after(const block& b) {
  return b.higher != nullptr && b.higher->base == b.end() ? b.higher : nullptr;
}

block& block_map::split(block& b, address at) {
  assert(at > b.base && at < b.end());
  block* const tail = memory_.new_object<block>(b);
  tail->base = at;
  tail->size = b.end() - at;
  tail->next_cached = nullptr;
  b.size = at - b.base;
  index_.insert(tail->base, tail);
  link_after(&b, *tail);
  return *tail;
}

void block_map::absorb(block& b, block& next) {
  assert(b.end() == next.base);
  b.size += next.size;
  erase(next);
}

}  // namespace vmm_pmr::detail
