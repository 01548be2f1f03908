// Where free blocks wait to be reused: best-fit free lists and exact-size caches.
//
// free_list: best_fit() returns the smallest block that can hold a request at its
//   alignment, the lowest-addressed among equals, which keeps memory packed towards the
//   start of the reservation (and so leaves whole chunks free at the top for trim). The
//   blocks sit in segregated bins, four per power of two, each an unsorted list threaded
//   through the blocks, with a bitmap of the bins that hold any: insert and erase are a
//   few pointer updates, and a search scans the request's own bin, then jumps to the next
//   non-empty bin, whose blocks are all larger, so the first bin with a fitting block
//   holds the best fit. Its blocks are merged with their free neighbours of the same
//   stream before they are inserted.
// cached_bins: the hot path. A stream's recently freed blocks, unmerged, in LIFO bins
//   keyed by exact block size: freeing and allocating the same size on one stream is a
//   push and a pop, with no search, no merge and no heap allocation. A bin holds a few
//   blocks at most, and each size may use one of two bins; what does not fit goes to the
//   free list.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory_resource>

#include "stream_ordered/pool/block.hpp"

namespace vmm_pmr::detail {

// Whether `b` holds `size` bytes starting at an `alignment`-aligned address.
bool fits(const block& b, std::size_t size, std::size_t alignment) noexcept;
// Whether `a` is a better fit than `b` for a request both hold: smaller, or as small
// and lower.
inline bool better_fit(const block& a, const block& b) noexcept {
  return a.size != b.size ? a.size < b.size : a.base < b.base;
}
// The aligned start of a request of `size` bytes placed in `b` (fits() must hold).
address placement_in(const block& b, std::size_t alignment) noexcept;

class free_list {
 public:
  static constexpr std::uint64_t any_sequence = std::numeric_limits<std::uint64_t>::max();

  free_list() = default;
  free_list(const free_list&) = delete;
  free_list& operator=(const free_list&) = delete;

  void insert(block& b) noexcept;
  void erase(block& b) noexcept;

  // The best fit among blocks freed no later than `newest_sequence`, or null.
  block* best_fit(std::size_t size, std::size_t alignment,
                  std::uint64_t newest_sequence = any_sequence) const noexcept;
  std::size_t bytes() const noexcept { return bytes_; }
  bool empty() const noexcept { return count_ == 0; }

  template <typename Visit>
  void for_each(Visit&& visit) const {
    for (block* head : bins_) {
      for (block* b = head; b != nullptr; b = b->next_free) visit(*b);
    }
  }

 private:
  static constexpr int sub_bins_log2 = 2;
  static constexpr std::size_t bin_count = 64 << sub_bins_log2;
  static constexpr std::size_t bitmap_words = bin_count / 64;

  // Bins grow with the size: [2^k, 2^k + 2^(k-2)), ... four per power of two (sizes
  // below 4 share the first bins). Every block of a bin is smaller than every block of
  // the bins after it.
  static std::size_t bin_of(std::size_t size) noexcept;
  // The lowest non-empty bin at or after `first`, or bin_count.
  std::size_t next_bin(std::size_t first) const noexcept;

  std::array<block*, bin_count> bins_{};
  std::array<std::uint64_t, bitmap_words> occupied_{};
  std::size_t bytes_ = 0;
  std::size_t count_ = 0;
};

class cached_bins {
 public:
  static constexpr std::size_t bin_count = 16;
  static constexpr std::uint32_t blocks_per_bin = 8;

  // A cached block of exactly `size` bytes whose base is `alignment`-aligned, or null.
  block* pop(std::size_t size, std::size_t alignment) noexcept {
    bin* found = bin_holding(size);
    if (found == nullptr) return nullptr;
    block* const top = found->head;
    if (top->base % alignment != 0) return nullptr;
    found->head = top->next_cached;
    --found->count;
    bytes_ -= size;
    top->next_cached = nullptr;
    return top;
  }

  // False when its bin is full or both bins its size may use hold other sizes: the
  // caller frees it to the free list instead.
  bool push(block& b) noexcept {
    bin* target = bin_holding(b.size);
    if (target == nullptr) {
      bin* const first = &bins_[home_of(b.size)];
      bin* const second = &bins_[home_of(b.size) ^ 1];
      target = first->count == 0 ? first : second->count == 0 ? second : nullptr;
      if (target == nullptr) return false;
      target->size = b.size;
    }
    if (target->count == blocks_per_bin) return false;
    b.next_cached = target->head;
    target->head = &b;
    ++target->count;
    bytes_ += b.size;
    return true;
  }

  // Empties every bin, calling `take(block&)` for each block.
  template <typename Take>
  void drain(Take&& take) {
    if (empty()) return;
    for (bin& candidate : bins_) {
      while (candidate.head != nullptr) {
        block* const top = candidate.head;
        candidate.head = top->next_cached;
        top->next_cached = nullptr;
        bytes_ -= top->size;
        take(*top);
      }
      candidate.count = 0;
    }
  }

  std::size_t bytes() const noexcept { return bytes_; }
  bool empty() const noexcept { return bytes_ == 0; }

  // Calls `visit(block&, bin_size)` for every cached block.
  template <typename Visit>
  void for_each(Visit&& visit) const {
    for (const bin& each : bins_) {
      for (block* b = each.head; b != nullptr; b = b->next_cached) visit(*b, each.size);
    }
  }

 private:
  struct bin {
    std::size_t size = 0;
    block* head = nullptr;
    std::uint32_t count = 0;
  };

  // Two-way set associative: a size lives in bin home or home ^ 1, so a lookup is two
  // compares whatever the other bins hold.
  static std::size_t home_of(std::size_t size) noexcept {
    return static_cast<std::size_t>(((size >> 8) * 0x9e3779b97f4a7c15ULL) >> 60) % bin_count;
  }
  bin* bin_holding(std::size_t size) noexcept {
    bin* const first = &bins_[home_of(size)];
    if (first->size == size && first->count != 0) return first;
    bin* const second = &bins_[home_of(size) ^ 1];
    if (second->size == size && second->count != 0) return second;
    return nullptr;
  }

  std::array<bin, bin_count> bins_{};
  std::size_t bytes_ = 0;
};

}  // namespace vmm_pmr::detail
