// How the stream-ordered resource rounds a request to the size of the block it gets.
//
// Every block starts at a multiple of 256 B (what cudaMalloc guarantees, and enough for
// any vector load) and so is a multiple of 256 B long. Small requests are rounded to a
// few classes per power of two, so that blocks freed by one size are found again by
// nearby sizes (the exact-size cache is keyed by the rounded size):
//   up to 4 KiB      multiples of 256 B        (16 classes)
//   4 KiB - 64 KiB   8 classes per power of two (at most 12.5% rounding)
//   above 64 KiB     multiples of 256 B: large blocks hold most of the bytes, so their
//                    rounding is what fragmentation would see.
#pragma once

#include <bit>
#include <cstddef>
#include <optional>

#include "vmm_pmr/core/byte_size.hpp"

namespace vmm_pmr::detail {

inline constexpr std::size_t block_alignment = 256;
inline constexpr std::size_t fine_classes_up_to = std::size_t{4} << 10;
inline constexpr std::size_t small_classes_up_to = std::size_t{64} << 10;
inline constexpr int classes_per_power_of_two = 8;

// The block size for a request of `bytes` (> 0); nullopt when it cannot be represented.
constexpr std::optional<std::size_t> block_size_for(std::size_t bytes) noexcept {
  if (bytes <= fine_classes_up_to || bytes > small_classes_up_to) {
    return round_up(bytes, block_alignment);
  }
  // bytes lies in (2^(k-1), 2^k]: steps of 2^(k-1) / classes_per_power_of_two.
  const std::size_t power = std::bit_ceil(bytes);
  return round_up(bytes, power / 2 / classes_per_power_of_two);
}

constexpr std::size_t align_up(std::size_t value, std::size_t alignment) noexcept {
  return (value + alignment - 1) & ~(alignment - 1);
}

}  // namespace vmm_pmr::detail
