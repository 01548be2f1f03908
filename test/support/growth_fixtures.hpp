// Shared pieces of the growth tests: the decorator stack (faults on top, then the live
// object counter, then roomy reservations) and byte patterns written and checked through
// the backend's copies, so the same test reads device memory on a GPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "support/roomy_backend.hpp"
#include "vmm_pmr/backend.hpp"
#include "vmm_pmr/testing/counting_backend.hpp"
#include "vmm_pmr/testing/fault_injecting_backend.hpp"

namespace vmm_pmr::test {

struct growth_backend {
  std::shared_ptr<testing::counting_backend> counting;
  std::shared_ptr<testing::fault_injecting_backend> faults;
};

inline growth_backend decorate_for_growth(std::shared_ptr<backend> base) {
  auto roomy = std::make_shared<roomy_backend>(std::move(base));
  auto counting = std::make_shared<testing::counting_backend>(roomy);
  auto faults = std::make_shared<testing::fault_injecting_backend>(counting);
  return {counting, faults};
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
