// Where physical memory lives: a device, pinned host memory, or a host NUMA node.
//
// The backend-neutral spelling of CUmemLocation. Public headers never include cuda.h, so
// code that only includes vmm_pmr builds without the CUDA toolkit.
#pragma once

#include <cstdint>
#include <string>

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

// For messages: "device 0", "host", "host NUMA node 1", "host NUMA node of the calling thread".
std::string to_string(const memory_location& location);

}  // namespace vmm_pmr
