#include "free_lists.hpp"

#include <cassert>

namespace vmm_pmr::detail {

address placement_in(const block& b, std::size_t alignment) noexcept {
  return (b.base + alignment - 1) & ~(static_cast<address>(alignment) - 1);
}

bool fits(const block& b, std::size_t size, std::size_t alignment) noexcept {
  if (b.size < size) return false;
  const address start = placement_in(b, alignment);
  // An alignment beyond the address space wraps to 0; a start past the block fails too.
  return start >= b.base && start - b.base <= b.size - size;
}

void free_list::insert(block& b) {
  const bool inserted = blocks_.insert(&b).second;
  assert(inserted);
  (void)inserted;
  bytes_ += b.size;
}

void free_list::erase(block& b) {
  const std::size_t erased = blocks_.erase(&b);
  assert(erased == 1);
  (void)erased;
  bytes_ -= b.size;
}

block* free_list::best_fit(std::size_t size, std::size_t alignment,
                           std::uint64_t newest_sequence) const {
  block probe;
  probe.size = size;
  probe.base = 0;
  for (auto candidate = blocks_.lower_bound(&probe); candidate != blocks_.end(); ++candidate) {
    block* const b = *candidate;
    if (b->free_sequence <= newest_sequence && fits(*b, size, alignment)) return b;
  }
  return nullptr;
}

std::size_t free_list::largest() const noexcept {
  return blocks_.empty() ? 0 : (*blocks_.rbegin())->size;
}

}  // namespace vmm_pmr::detail
