#include "vmm_pmr/core/handle_types.hpp"

namespace vmm_pmr {

std::string to_string(handle_types types) {
  if (types == handle_types::none) return "none";
  std::string text;
  if (contains(types, handle_types::posix_fd)) text = "posix_fd";
  if (contains(types, handle_types::fabric)) text += text.empty() ? "fabric" : "|fabric";
  return text;
}

}  // namespace vmm_pmr
