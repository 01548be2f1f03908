#include "vmm_pmr/core/memory_location.hpp"

namespace vmm_pmr {

std::string to_string(const memory_location& location) {
  switch (location.kind) {
    case location_kind::device:
      return "device " + std::to_string(location.id);
    case location_kind::host:
      return "host";
    case location_kind::host_numa:
      return "host NUMA node " + std::to_string(location.id);
    case location_kind::host_numa_current:
      return "host NUMA node of the calling thread";
  }
  return "unknown location";
}

}  // namespace vmm_pmr
