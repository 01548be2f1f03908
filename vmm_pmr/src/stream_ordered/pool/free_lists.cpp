#include "stream_ordered/pool/free_lists.hpp"

#include <bit>
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

std::size_t free_list::bin_of(std::size_t size) noexcept {
  if (size < (std::size_t{1} << sub_bins_log2)) return size;
  const int octave = std::bit_width(size) - 1;
  const std::size_t sub = (size >> (octave - sub_bins_log2)) & ((1u << sub_bins_log2) - 1);
  return (static_cast<std::size_t>(octave) << sub_bins_log2) + sub;
}

std::size_t free_list::next_bin(std::size_t first) const noexcept {
  for (std::size_t word = first / 64; word < bitmap_words; ++word) {
    std::uint64_t bits = occupied_[word];
    if (word == first / 64) bits &= ~std::uint64_t{0} << (first % 64);
    if (bits != 0) return word * 64 + static_cast<std::size_t>(std::countr_zero(bits));
  }
  return bin_count;
}

void free_list::insert(block& b) noexcept {
  const std::size_t bin = bin_of(b.size);
  assert(b.previous_free == nullptr && b.next_free == nullptr && bins_[bin] != &b);
  b.next_free = bins_[bin];
  if (b.next_free != nullptr) b.next_free->previous_free = &b;
  bins_[bin] = &b;
  occupied_[bin / 64] |= std::uint64_t{1} << (bin % 64);
  bytes_ += b.size;
  ++count_;
}

void free_list::erase(block& b) noexcept {
  const std::size_t bin = bin_of(b.size);
  assert(b.previous_free != nullptr || bins_[bin] == &b);
  if (b.previous_free != nullptr) {
    b.previous_free->next_free = b.next_free;
  } else {
    bins_[bin] = b.next_free;
    if (b.next_free == nullptr) occupied_[bin / 64] &= ~(std::uint64_t{1} << (bin % 64));
  }
  if (b.next_free != nullptr) b.next_free->previous_free = b.previous_free;
  b.previous_free = nullptr;
  b.next_free = nullptr;
  bytes_ -= b.size;
  --count_;
}

block* free_list::best_fit(std::size_t size, std::size_t alignment,
                           std::uint64_t newest_sequence) const noexcept {
  for (std::size_t bin = next_bin(bin_of(size)); bin < bin_count; bin = next_bin(bin + 1)) {
    block* best = nullptr;
    for (block* b = bins_[bin]; b != nullptr; b = b->next_free) {
      if (b->free_sequence > newest_sequence || !fits(*b, size, alignment)) continue;
      if (best == nullptr || better_fit(*b, *best)) best = b;
    }
    if (best != nullptr) return best;
  }
  return nullptr;
}

}  // namespace vmm_pmr::detail
