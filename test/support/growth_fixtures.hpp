// Shared pieces of the growth tests: the decorator stacks (faults on top, then the live
// object counter, then how reservations are placed) and byte patterns written and checked
// through the backend's copies, so the same test reads device memory on a GPU.
//
// Which growth path a test takes must not be luck. decorate_for_growth places
// reservations with free space behind them: the host backend then honours the hint behind
// an allocation every time, the CUDA driver only sometimes (a hint is a wish there), so a
// test that asserts growth behind via a hint runs on the host backend only.
// decorate_for_relocation refuses every hint: growth past the reservation always moves,
// on every backend. Address space reserved ahead (allocate_with_address_space,
// reserve_address_space) is what keeps the pointer on every backend.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "support/fault_fixtures.hpp"
#include "vmm_pmr/backend/backend.hpp"
#include "vmm_pmr/testing/no_room_behind_backend.hpp"
#include "vmm_pmr/testing/roomy_backend.hpp"

namespace vmm_pmr::test {

// Faults on top, then the counter, then the placement decorator.
using growth_backend = decorated_backend;

// Room behind every reservation (reliably on the host backend only; see above).
inline growth_backend decorate_for_growth(std::shared_ptr<backend> base) {
  return decorate(std::make_shared<testing::roomy_backend>(std::move(base)));
}

// Every hinted reserve placed elsewhere: growth beyond the reserved space always moves.
inline growth_backend decorate_for_relocation(std::shared_ptr<backend> base) {
  return decorate(std::make_shared<testing::no_room_behind_backend>(std::move(base)));
}

inline std::uint8_t pattern_byte(std::size_t offset, std::uint8_t seed) {
  return static_cast<std::uint8_t>(seed + offset * 31 + (offset >> 12));
}

inline void write_pattern(backend& driver, const void* base, std::size_t offset, std::size_t bytes,
                          std::uint8_t seed) {
  std::vector<std::uint8_t> host(bytes);
  for (std::size_t i = 0; i < bytes; ++i) host[i] = pattern_byte(offset + i, seed);
  driver.copy_from_host(reinterpret_cast<address>(base) + offset, host.data(), bytes);
}

// Whether bytes [offset, offset + bytes) hold the pattern write_pattern(seed) put there.
inline bool holds_pattern(backend& driver, const void* base, std::size_t offset, std::size_t bytes,
                          std::uint8_t seed) {
  std::vector<std::uint8_t> host(bytes);
  driver.copy_to_host(host.data(), reinterpret_cast<address>(base) + offset, bytes);
  for (std::size_t i = 0; i < bytes; ++i) {
    if (host[i] != pattern_byte(offset + i, seed)) return false;
  }
  return true;
}

}  // namespace vmm_pmr::test
