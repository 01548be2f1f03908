#include "vmm_pmr/core/access_grant.hpp"

namespace vmm_pmr {

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
