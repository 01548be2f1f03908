// The pool's block map (stream_ordered/pool/block.hpp): blocks in address order, found by
// base through a hash index, split and merged in place; neighbours across a hole are not
// adjacent.
#include <catch2/catch_test_macros.hpp>

#include <cstdint>
#include <memory_resource>
#include <random>
#include <set>
#include <vector>

#include "stream_ordered/pool/block.hpp"

namespace vmm_pmr::detail {
namespace {

constexpr address base = 0x10000;

std::vector<address> bases_in_order(const block_map& blocks) {
  std::vector<address> bases;
  blocks.for_each([&](const block& b) { bases.push_back(b.base); });
  return bases;
}

TEST_CASE("block_map keeps blocks in address order whatever the insertion order",
          "[pool_internals]") {
  block_map blocks(std::pmr::new_delete_resource());
  blocks.insert({.base = base + 0x2000, .size = 0x1000});
  blocks.insert({.base = base, .size = 0x1000});
  blocks.insert({.base = base + 0x1000, .size = 0x1000});
  CHECK(bases_in_order(blocks) == std::vector<address>{base, base + 0x1000, base + 0x2000});
  CHECK(blocks.count() == 3);
}

TEST_CASE("block_map finds a block by its base and by any interior address", "[pool_internals]") {
  block_map blocks(std::pmr::new_delete_resource());
  block& low = blocks.insert({.base = base, .size = 0x1000});
  block& high = blocks.insert({.base = base + 0x3000, .size = 0x1000});
  CHECK(blocks.find(base) == &low);
  CHECK(blocks.find(base + 0x100) == nullptr);  // find() is by base only
  CHECK(blocks.containing(base + 0xfff) == &low);
  CHECK(blocks.containing(base + 0x3800) == &high);
  CHECK(blocks.containing(base + 0x1000) == nullptr);  // in the gap between them
}

TEST_CASE("split gives the tail a copy of the block's state and indexes it", "[pool_internals]") {
  block_map blocks(std::pmr::new_delete_resource());
  block& whole = blocks.insert(
      {.base = base, .size = 0x4000, .state = block_state::cached, .free_sequence = 7});
  block& tail = blocks.split(whole, base + 0x1000);
  CHECK(whole.size == 0x1000);
  CHECK(tail.base == base + 0x1000);
  CHECK(tail.size == 0x3000);
  CHECK(tail.state == block_state::cached);
  CHECK(tail.free_sequence == 7);
  CHECK(blocks.find(tail.base) == &tail);
  CHECK(blocks.adjacent_after(whole) == &tail);
  CHECK(blocks.adjacent_before(tail) == &whole);
  CHECK(bases_in_order(blocks) == std::vector<address>{base, base + 0x1000});
}

TEST_CASE("absorb merges the next block and drops it from the index", "[pool_internals]") {
  block_map blocks(std::pmr::new_delete_resource());
  block& front = blocks.insert({.base = base, .size = 0x1000});
  block& back = blocks.insert({.base = base + 0x1000, .size = 0x2000});
  blocks.insert({.base = base + 0x3000, .size = 0x1000});
  blocks.absorb(front, back);
  CHECK(front.size == 0x3000);
  CHECK(blocks.find(base + 0x1000) == nullptr);
  CHECK(blocks.count() == 2);
  CHECK(blocks.adjacent_after(front) == blocks.find(base + 0x3000));
}

TEST_CASE("blocks on either side of a hole are neighbours but not adjacent", "[pool_internals]") {
  block_map blocks(std::pmr::new_delete_resource());
  block& low = blocks.insert({.base = base, .size = 0x1000});
  block& high = blocks.insert({.base = base + 0x2000, .size = 0x1000});
  CHECK(low.higher == &high);
  CHECK(blocks.adjacent_after(low) == nullptr);
  CHECK(blocks.adjacent_before(high) == nullptr);
}

TEST_CASE("the block index finds every block through growth and erasure", "[pool_internals]") {
  // Enough blocks to grow the index several times, at scattered bases so that probe runs
  // form; erasing every other one exercises the backward shift that keeps later entries of
  // a run reachable.
  block_map blocks(std::pmr::new_delete_resource());
  std::mt19937_64 random(42);
  std::set<address> bases;
  while (bases.size() < 4000) bases.insert(base + (random() % (std::uint64_t{1} << 30)) * 256);
  std::vector<block*> made;
  for (const address at : bases) made.push_back(&blocks.insert({.base = at, .size = 256}));
  for (std::size_t i = 0; i < made.size(); i += 2) blocks.erase(*made[i]);
  std::size_t i = 0;
  for (const address at : bases) {
    if (i % 2 == 0) {
      REQUIRE(blocks.find(at) == nullptr);
    } else {
      REQUIRE(blocks.find(at) == made[i]);
    }
    ++i;
  }
  CHECK(blocks.count() == bases.size() / 2);
}

}  // namespace
}  // namespace vmm_pmr::detail
