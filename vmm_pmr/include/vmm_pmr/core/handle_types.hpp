// Shareable handle types a physical allocation may be exported as (a bit set): the
// backend-neutral spelling of CUmemAllocationHandleType.
#pragma once

#include <cstdint>
#include <string>

namespace vmm_pmr {

enum class handle_types : std::uint8_t {
  none = 0,
  posix_fd = 1 << 0,
  fabric = 1 << 1,
};

constexpr handle_types operator|(handle_types a, handle_types b) {
  return static_cast<handle_types>(static_cast<unsigned>(a) | static_cast<unsigned>(b));
}
constexpr handle_types operator&(handle_types a, handle_types b) {
  return static_cast<handle_types>(static_cast<unsigned>(a) & static_cast<unsigned>(b));
}
constexpr bool contains(handle_types set, handle_types wanted) { return (set & wanted) == wanted; }

// "none", "posix_fd", "posix_fd|fabric".
std::string to_string(handle_types types);

}  // namespace vmm_pmr
