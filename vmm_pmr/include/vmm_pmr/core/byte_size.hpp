// Byte counts for humans and for granularity arithmetic.
//
// format_bytes() is what every message and report uses ("1.5 GiB", "2 MiB", "17 B").
// The rounding helpers report overflow instead of wrapping: a request near SIZE_MAX
// must fail with a clear error, never turn into a tiny allocation.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace vmm_pmr {

std::string format_bytes(std::size_t bytes);

constexpr bool is_power_of_two(std::size_t value) noexcept {
  return value != 0 && (value & (value - 1)) == 0;
}

// `value` rounded up to a multiple of `multiple` (> 0), or nullopt on overflow.
constexpr std::optional<std::size_t> round_up(std::size_t value, std::size_t multiple) noexcept {
  const std::size_t remainder = value % multiple;
  if (remainder == 0) return value;
  const std::size_t padding = multiple - remainder;
  if (value > static_cast<std::size_t>(-1) - padding) return std::nullopt;
  return value + padding;
}

}  // namespace vmm_pmr
