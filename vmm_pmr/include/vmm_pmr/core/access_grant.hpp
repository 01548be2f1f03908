// Who may access a mapping, and how: the backend-neutral spelling of CUmemAccessDesc.
#pragma once

#include <cstdint>
#include <string>

namespace vmm_pmr {

enum class access_mode : std::uint8_t { none, read, read_write };

// Access for one device (ordinal) or for the host CPU to a mapping.
struct access_grant {
  // The host CPU, for host and host-NUMA memory (CUmemLocation HOST / HOST_NUMA).
  static constexpr int host_cpu = -1;

  int device = 0;
  access_mode mode = access_mode::read_write;
  friend constexpr bool operator==(const access_grant&, const access_grant&) = default;
};

// "none", "read", "read_write".
std::string to_string(access_mode mode);

}  // namespace vmm_pmr
