// The pool's reservation map (stream_ordered/pool/address_space.hpp): holes split when a
// range is taken and merge with both neighbours when it is given back; chunks count as
// mapped; an abandoned range never becomes a hole again.
#include <catch2/catch_test_macros.hpp>

#include <cstddef>
#include <map>
#include <memory_resource>

#include "stream_ordered/pool/address_space.hpp"

namespace vmm_pmr::detail {
namespace {

constexpr address base = 0x1000000;
constexpr std::size_t size = 0x100000;

using ranges = std::map<address, std::size_t>;

ranges holes_of(const address_space& space) { return {space.holes().begin(), space.holes().end()}; }

TEST_CASE("address_space starts as one hole over the reservation", "[pool_internals]") {
  const address_space space(base, size, std::pmr::new_delete_resource());
  CHECK(holes_of(space) == ranges{{base, size}});
  CHECK(space.contains(base));
  CHECK(space.contains(base + size - 1));
  CHECK_FALSE(space.contains(base + size));
  CHECK_FALSE(space.contains(base - 1));
}

TEST_CASE("taking a range from the middle of a hole leaves a hole on each side",
          "[pool_internals]") {
  address_space space(base, size, std::pmr::new_delete_resource());
  space.take(base + 0x10000, 0x20000);
  CHECK(holes_of(space) == ranges{{base, 0x10000}, {base + 0x30000, size - 0x30000}});
}

TEST_CASE("giving a range back merges it with the holes on both sides", "[pool_internals]") {
  address_space space(base, size, std::pmr::new_delete_resource());
  space.take(base + 0x10000, 0x10000);
  space.take(base + 0x20000, 0x10000);
  space.give_back(base + 0x10000, 0x10000);
  CHECK(holes_of(space) == ranges{{base, 0x20000}, {base + 0x30000, size - 0x30000}});
  space.give_back(base + 0x20000, 0x10000);
  CHECK(holes_of(space) == ranges{{base, size}});
}

TEST_CASE("chunks add up to the mapped bytes", "[pool_internals]") {
  address_space space(base, size, std::pmr::new_delete_resource());
  space.take(base, 0x30000);
  space.add_chunk(base, 0x10000);
  space.add_chunk(base + 0x10000, 0x20000);
  CHECK(space.mapped_bytes() == 0x30000);
  CHECK(space.chunks().size() == 2);  // chunks are never merged
  space.remove_chunk(base);
  CHECK(space.mapped_bytes() == 0x20000);
}

TEST_CASE("an abandoned range stays out of the holes", "[pool_internals]") {
  address_space space(base, size, std::pmr::new_delete_resource());
  space.take(base + 0x10000, 0x10000);
  space.abandon(base + 0x10000, 0x10000);
  CHECK(holes_of(space) == ranges{{base, 0x10000}, {base + 0x20000, size - 0x20000}});
  CHECK(space.abandoned().size() == 1);
}

}  // namespace
}  // namespace vmm_pmr::detail
