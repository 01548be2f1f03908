// format_bytes: byte counts in binary units for humans ("17 B", "2 MiB", "1.5 GiB").
//
// The largest unit whose value is at least 1 is used. A count that is an exact multiple
// of that unit prints as an integer; anything else prints with one decimal, so a size
// that is not exact never looks exact ("2.0 MiB" is 2 MiB plus a few bytes).
#include "vmm_pmr/core/byte_size.hpp"

#include <fmt/format.h>

#include <array>

namespace vmm_pmr {

std::string format_bytes(std::size_t bytes) {
  static constexpr std::array<const char*, 7> units = {"B",   "KiB", "MiB", "GiB",
                                                       "TiB", "PiB", "EiB"};
  std::size_t unit_index = 0;
  std::size_t unit_bytes = 1;
  while (unit_index + 1 < units.size() && bytes / unit_bytes >= 1024) {
    unit_bytes *= 1024;
    ++unit_index;
  }
  if (bytes % unit_bytes == 0) return fmt::format("{} {}", bytes / unit_bytes, units[unit_index]);

  const double value = static_cast<double>(bytes) / static_cast<double>(unit_bytes);
  // 1023.97 KiB would round to "1024.0 KiB": say "1.0 MiB" instead.
  if (value >= 1023.95 && unit_index + 1 < units.size()) {
    return fmt::format("{:.1f} {}", value / 1024.0, units[unit_index + 1]);
  }
  return fmt::format("{:.1f} {}", value, units[unit_index]);
}

}  // namespace vmm_pmr
