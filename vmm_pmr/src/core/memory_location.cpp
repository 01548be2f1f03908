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

std::string to_string(handle_types types) {
  if (types == handle_types::none) return "none";
  std::string text;
  if (contains(types, handle_types::posix_fd)) text = "posix_fd";
  if (contains(types, handle_types::fabric)) text += text.empty() ? "fabric" : "|fabric";
  return text;
}

std::string to_string(access_mode mode) {
  switch (mode) {
    case access_mode::none:
      return "none";
    case access_mode::read:
      return "read";
    case access_mode::read_write:
      return "read_write";
  }
  return "unknown";
}

}  // namespace vmm_pmr
