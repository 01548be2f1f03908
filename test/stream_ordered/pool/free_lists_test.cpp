// The pool's free lists and exact-size caches (stream_ordered/pool/free_lists.hpp): best
// fit over segregated bins (smallest block, lowest address among equals, at the request's
// alignment, freed no later than a sequence number), and LIFO bins keyed by exact size.
// A stream's free list and the ownerless list are the same structure; which list a block
// belongs to is the pool's choice (free_list_bookkeeping.cpp).
#include <catch2/catch_test_macros.hpp>

#include <cstddef>
#include <deque>
#include <memory_resource>
#include <vector>

#include "stream_ordered/pool/block.hpp"
#include "stream_ordered/pool/free_lists.hpp"

namespace vmm_pmr::detail {
namespace {

// Blocks that outlive the lists holding them (the lists link through the blocks).
struct block_store {
  block& make(address base, std::size_t size, std::uint64_t free_sequence = 0) {
    return blocks.emplace_back(block{.base = base, .size = size, .free_sequence = free_sequence});
  }
  std::deque<block> blocks;
};

TEST_CASE("best_fit takes the smallest block that holds the request", "[pool_internals]") {
  block_store store;
  free_list list;
  list.insert(store.make(0x100000, 0x10000));
  block& snug = store.make(0x200000, 0x1100);
  list.insert(snug);
  list.insert(store.make(0x300000, 0x800));  // too small
  CHECK(list.best_fit(0x1000, 256) == &snug);
}

TEST_CASE("best_fit prefers a larger block of the request's own bin to a later bin's",
          "[pool_internals]") {
  // 0x1000, 0x1080 and 0x1100 share a bin, [0x1000, 0x1400): the block below the request in
  // it does not fit, the one above does, and beats the next bin's (all larger).
  block_store store;
  free_list list;
  list.insert(store.make(0x100000, 0x1000));
  block& same_bin = store.make(0x200000, 0x1100);
  list.insert(same_bin);
  list.insert(store.make(0x300000, 0x1400));
  CHECK(list.best_fit(0x1080, 256) == &same_bin);
}

TEST_CASE("best_fit takes the lowest address among equally good blocks", "[pool_internals]") {
  block_store store;
  free_list list;
  list.insert(store.make(0x300000, 0x2000));
  block& lowest = store.make(0x100000, 0x2000);
  list.insert(lowest);
  list.insert(store.make(0x200000, 0x2000));
  CHECK(list.best_fit(0x2000, 256) == &lowest);
}

TEST_CASE("best_fit skips a block that is large enough only without the alignment",
          "[pool_internals]") {
  block_store store;
  free_list list;
  list.insert(store.make(0x100100, 0x1000));  // 4 KiB, but only 0x100 B past 0x101000
  block& aligned = store.make(0x200000, 0x2000);
  list.insert(aligned);
  CHECK(list.best_fit(0x1000, 0x1000) == &aligned);
  CHECK(placement_in(aligned, 0x1000) == 0x200000);
  CHECK_FALSE(fits(store.blocks.front(), 0x1000, 0x1000));
}

TEST_CASE("best_fit ignores blocks freed after the given sequence number", "[pool_internals]") {
  block_store store;
  free_list list;
  list.insert(store.make(0x100000, 0x1000, 9));  // the better fit, but freed later
  block& older = store.make(0x200000, 0x2000, 3);
  list.insert(older);
  CHECK(list.best_fit(0x1000, 256, 5) == &older);
  CHECK(list.best_fit(0x1000, 256, 2) == nullptr);
}

TEST_CASE("erase unlinks a block from the middle of its bin", "[pool_internals]") {
  block_store store;
  free_list list;
  block& a = store.make(0x100000, 0x1000);
  block& b = store.make(0x200000, 0x1000);
  block& c = store.make(0x300000, 0x1000);
  list.insert(a);
  list.insert(b);
  list.insert(c);
  list.erase(b);
  std::vector<const block*> left;
  list.for_each([&](const block& each) { left.push_back(&each); });
  CHECK(left.size() == 2);
  CHECK(list.bytes() == 0x2000);
  list.erase(a);
  CHECK(list.best_fit(0x1000, 256) == &c);
  list.erase(c);
  CHECK(list.empty());
  CHECK(list.best_fit(0x100, 256) == nullptr);
}

TEST_CASE("the exact-size cache returns only blocks of exactly the size, last freed first",
          "[pool_internals]") {
  block_store store;
  cached_bins cache;
  block& first = store.make(0x100000, 0x1000);
  block& second = store.make(0x200000, 0x1000);
  REQUIRE(cache.push(first));
  REQUIRE(cache.push(second));
  CHECK(cache.pop(0x1100, 256) == nullptr);
  CHECK(cache.pop(0x1000, 256) == &second);
  CHECK(cache.pop(0x1000, 256) == &first);
  CHECK(cache.pop(0x1000, 256) == nullptr);
  CHECK(cache.empty());
  // Sizes that share bins with the cached ones find nothing either.
  REQUIRE(cache.push(first));
  for (std::size_t size = 256; size <= 64 * 256; size += 256) {
    if (size != first.size) CHECK(cache.pop(size, 256) == nullptr);
  }
}

TEST_CASE("the exact-size cache does not hand out a block at a weaker alignment",
          "[pool_internals]") {
  block_store store;
  cached_bins cache;
  REQUIRE(cache.push(store.make(0x100100, 0x1000)));
  CHECK(cache.pop(0x1000, 0x1000) == nullptr);
  CHECK(cache.pop(0x1000, 256) != nullptr);
}

TEST_CASE("the exact-size cache refuses a block when its bin is full", "[pool_internals]") {
  block_store store;
  cached_bins cache;
  for (std::uint32_t i = 0; i < cached_bins::blocks_per_bin; ++i) {
    REQUIRE(cache.push(store.make(0x100000 + i * 0x1000, 0x1000)));
  }
  CHECK_FALSE(cache.push(store.make(0x900000, 0x1000)));
  CHECK(cache.bytes() == cached_bins::blocks_per_bin * 0x1000);
}

TEST_CASE("the exact-size cache never mixes sizes in a bin", "[pool_internals]") {
  // More sizes than bins: some are refused, and each accepted size comes back as itself.
  block_store store;
  cached_bins cache;
  std::vector<block*> accepted;
  std::size_t refused = 0;
  for (std::size_t i = 1; i <= 3 * cached_bins::bin_count; ++i) {
    block& b = store.make(0x1000000 * i, i * 256);
    if (cache.push(b)) {
      accepted.push_back(&b);
    } else {
      ++refused;
    }
  }
  CHECK(refused > 0);
  CHECK(accepted.size() <= cached_bins::bin_count);
  for (block* b : accepted) CHECK(cache.pop(b->size, 256) == b);
  CHECK(cache.empty());
}

TEST_CASE("draining the exact-size cache hands over every block once", "[pool_internals]") {
  block_store store;
  cached_bins cache;
  for (std::size_t i = 0; i < 5; ++i) REQUIRE(cache.push(store.make(0x100000 * (i + 1), 0x2000)));
  REQUIRE(cache.push(store.make(0x900000, 0x400)));
  std::size_t taken = 0;
  std::size_t bytes = 0;
  cache.drain([&](block& b) {
    ++taken;
    bytes += b.size;
    CHECK(b.next_cached == nullptr);
  });
  CHECK(taken == 6);
  CHECK(bytes == 5 * 0x2000 + 0x400);
  CHECK(cache.empty());
  CHECK(cache.pop(0x2000, 256) == nullptr);
}

}  // namespace
}  // namespace vmm_pmr::detail
