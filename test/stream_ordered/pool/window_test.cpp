// A bounded pool's choice of window (stream_ordered/pool/window.hpp): among runs of
// touching holes and usable free blocks, the placement that needs the fewest new chunks,
// the lowest among equals.
#include <catch2/catch_test_macros.hpp>

#include <memory_resource>
#include <optional>
#include <vector>

#include "stream_ordered/pool/window.hpp"

namespace vmm_pmr::detail {
namespace {

constexpr address base = 0x10000000;
constexpr std::size_t chunk = 0x200000;
constexpr chunk_grid grid{base, base + 16 * chunk, chunk};

std::pmr::vector<window_segment> segments(std::initializer_list<window_segment> list) {
  return std::pmr::vector<window_segment>(list, std::pmr::new_delete_resource());
}

TEST_CASE("best_window prefers a window over free blocks to one over holes", "[pool_internals]") {
  // Chunks 0-1 a hole, 2-3 a free block, 4 a hole: two chunks fit with none missing at 2.
  const auto pieces = segments({{base, base + 2 * chunk, true},
                                {base + 2 * chunk, base + 4 * chunk, false},
                                {base + 4 * chunk, base + 5 * chunk, true}});
  const std::optional<window_plan> plan = best_window(pieces, 2 * chunk, 256, grid);
  REQUIRE(plan);
  CHECK(plan->missing == 0);
  CHECK(plan->start == base + 2 * chunk);
  CHECK(plan->first_slot == base + 2 * chunk);
  CHECK(plan->end_slot == base + 4 * chunk);
}

TEST_CASE("best_window counts the hole chunks a window must map", "[pool_internals]") {
  // A free block of one chunk between holes: three chunks need two new ones.
  const auto pieces = segments({{base, base + chunk, true},
                                {base + chunk, base + 2 * chunk, false},
                                {base + 2 * chunk, base + 4 * chunk, true}});
  const std::optional<window_plan> plan = best_window(pieces, 3 * chunk, 256, grid);
  REQUIRE(plan);
  CHECK(plan->missing == 2);
  CHECK(plan->start == base);  // the lowest of the windows that miss two
}

TEST_CASE("best_window does not join segments that do not touch", "[pool_internals]") {
  // Two free chunks with a live block between them hold no two-chunk request.
  const auto pieces =
      segments({{base, base + chunk, false}, {base + 2 * chunk, base + 3 * chunk, false}});
  CHECK_FALSE(best_window(pieces, 2 * chunk, 256, grid));
}

TEST_CASE("best_window honours the alignment", "[pool_internals]") {
  // One free run of four chunks starting off a 4-chunk boundary: a 4-chunk-aligned request
  // of one chunk must start at the run's aligned address.
  const address start = base + chunk;
  const auto pieces = segments({{start, start + 4 * chunk, false}});
  const std::optional<window_plan> plan = best_window(pieces, chunk, 4 * chunk, grid);
  REQUIRE(plan);
  CHECK(plan->start % (4 * chunk) == 0);
  CHECK(plan->start >= start);
  CHECK(plan->start + chunk <= start + 4 * chunk);
}

}  // namespace
}  // namespace vmm_pmr::detail
