// Where physical memory lives and who may access a mapping.
//
// These are the backend-neutral spellings of CUmemLocation, CUmemAccess_flags and
// CUmemAllocationHandleType. Public headers never include cuda.h, so code that only
// includes vmm_pmr builds without the CUDA toolkit.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vmm_pmr {

enum class location_kind : std::uint8_t {
  device,             // memory of GPU `id`
  host,               // pinned host memory (id ignored)
  host_numa,          // host memory on NUMA node `id`
  host_numa_current,  // host memory on the NUMA node of the calling thread
};

struct memory_location {
  location_kind kind = location_kind::device;
  int id = 0;

  static constexpr memory_location on_device(int ordinal) {
    return {location_kind::device, ordinal};
  }
  static constexpr memory_location on_host() { return {location_kind::host, 0}; }
  static constexpr memory_location on_host_numa(int node) {
    return {location_kind::host_numa, node};
  }
  static constexpr memory_location on_host_numa_current() {
    return {location_kind::host_numa_current, 0};
  }

  friend constexpr bool operator==(const memory_location&, const memory_location&) = default;
};

enum class access_mode : std::uint8_t { none, read, read_write };

// Access for one device (ordinal) or for the host CPU to a mapping.
struct access_grant {
  // The host CPU, for host and host-NUMA memory (CUmemLocation HOST / HOST_NUMA).
  static constexpr int host_cpu = -1;

  int device = 0;
  access_mode mode = access_mode::read_write;
  friend constexpr bool operator==(const access_grant&, const access_grant&) = default;
};

// Shareable handle types a physical allocation may be exported as (a bit set).
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

enum class allocation_type : std::uint8_t { pinned, managed };

enum class compression : std::uint8_t {
  none,       // never ask for compressible memory
  preferred,  // ask; use what the driver grants (see allocation_info::compressed)
  required,   // ask; an allocation the driver does not make compressible is an error
};

// For messages: "device 0", "host", "host NUMA node 1", "host NUMA node of the calling thread".
std::string to_string(const memory_location& location);
// "none", "posix_fd", "posix_fd|fabric".
std::string to_string(handle_types types);
// "none", "read", "read_write".
std::string to_string(access_mode mode);

}  // namespace vmm_pmr
