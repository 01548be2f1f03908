// The blocks of the stream-ordered resource: every mapped byte of its reservation
// belongs to exactly one block, live or free.
//
// A block_map holds them in address order, as a doubly linked list threaded through the
// blocks themselves: splitting, merging and finding a neighbour, which every allocate
// and deallocate does, are pointer updates (a balanced tree spent most of the hot path
// rebalancing). A block* stays valid until that block is erased (merged into a
// neighbour, or unmapped by trim); free lists and caches hold block*. A hash index on
// the base address answers deallocate()'s lookup in O(1). Only interior addresses (bad
// frees, growth, trim: paths that call the driver or report an error anyway) walk the
// list. Neighbours in the list are adjacent in memory only where their ends meet: trim
// leaves unmapped holes between blocks, and blocks on either side of a hole never merge.
//
// The bookkeeping lives in host memory only (the pool's node allocator): nothing here
// ever touches the memory the blocks describe, which may be device memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <vector>

#include "vmm_pmr/backend/backend.hpp"

namespace vmm_pmr::detail {

struct stream_state;
struct alias_range;

enum class block_state : std::uint8_t {
  live,       // handed out by allocate()
  free,       // in a free list (its stream's, or the ownerless one)
  cached,     // in its stream's exact-size cache: free, not yet merged with neighbours
  set_aside,  // free, in no list: taken by a growth that is mapping memory without the lock
  lent,       // a whole chunk whose memory an alias range in use holds (alias_range.hpp)
};

struct block {
  address base = 0;
  std::size_t size = 0;
  block_state state = block_state::free;
  // live: the stream that allocated it. Otherwise the stream whose work may still use
  // it (the one it was freed on), or nullptr when no stream may: "ownerless". A lent
  // chunk keeps the stream and free_sequence it had when it was lent.
  stream_state* stream = nullptr;
  // Free blocks: when it was freed (the pool's deallocation counter); an event recorded
  // on `stream` after that covers it.
  std::uint64_t free_sequence = 0;
  // The alias range this block occupies whole (live or cached), or null: blocks in the
  // pool's chunks.
  alias_range* alias = nullptr;
  std::size_t requested = 0;  // live: the bytes asked for
  block* next_cached = nullptr;
  // free: the neighbours in its free list's bin.
  block* previous_free = nullptr;
  block* next_free = nullptr;
  // Address order (block_map's list): the blocks below and above, adjacent or not.
  block* lower = nullptr;
  block* higher = nullptr;

  address end() const noexcept { return base + size; }
  bool is_free() const noexcept { return state == block_state::free; }
};

// Open addressing with linear probing over a power-of-two table, at most half full;
// deletion shifts the following entries back, so no tombstones accumulate. Address 0 is
// never a block's base and marks a free slot.
class block_index {
 public:
  explicit block_index(std::pmr::memory_resource* memory);

  block* find(address base) const noexcept {
    for (std::size_t i = home_of(base);; i = (i + 1) & mask_) {
      const slot& candidate = slots_[i];
      if (candidate.base == base) return candidate.value;
      if (candidate.base == 0) return nullptr;
    }
  }
  void insert(address base, block* value);
  void erase(address base) noexcept;

 private:
  struct slot {
    address base = 0;
    block* value = nullptr;
  };

  std::size_t home_of(address base) const noexcept {
    // Bases are multiples of 256: drop those bits, then mix (Fibonacci hashing).
    return static_cast<std::size_t>(((base >> 8) * 0x9e3779b97f4a7c15ULL) >> shift_);
  }
  void grow();

  std::pmr::vector<slot> slots_;
  std::size_t mask_ = 0;
  int shift_ = 0;
  std::size_t count_ = 0;
};

class block_map {
 public:
  explicit block_map(std::pmr::memory_resource* memory) : memory_(memory), index_(memory) {}
  block_map(const block_map&) = delete;
  block_map& operator=(const block_map&) = delete;
  ~block_map();

  // A block over addresses no block holds.
  block& insert(const block& description);
  void erase(block& b);

  // The block starting at `base`, or null.
  block* find(address base) const noexcept { return index_.find(base); }
  // The block holding `at` (any interior address), or null.
  block* containing(address at);
  // Its neighbour in memory: the block ending where `b` starts / starting where it ends.
  block* adjacent_before(const block& b);
  block* adjacent_after(const block& b);

  // Cuts `b` at `at` (strictly inside it): `b` keeps [base, at) and the returned block,
  // a copy of b's state, gets [at, end).
  block& split(block& b, address at);
  // `b` takes over `next`, which must start where `b` ends; `next` is erased.
  void absorb(block& b, block& next);

  std::size_t count() const noexcept { return count_; }
  // Calls `visit(block&)` for every block, in address order.
  template <typename Visit>
  void for_each(Visit&& visit) {
    for (block* b = lowest_; b != nullptr; b = b->higher) visit(*b);
  }
  template <typename Visit>
  void for_each(Visit&& visit) const {
    for (const block* b = lowest_; b != nullptr; b = b->higher) visit(*b);
  }

 private:
  // Links `b` into the list right after `lower` (null: first).
  void link_after(block* lower, block& b) noexcept;

  std::pmr::polymorphic_allocator<block> memory_;
  block_index index_;
  block* lowest_ = nullptr;
  std::size_t count_ = 0;
};

}  // namespace vmm_pmr::detail
