// What one process gives another so that both map the same physical memory.
#pragma once

#include <vector>

#include "vmm_pmr/ipc/shared_allocation_descriptor.hpp"
#include "vmm_pmr/ipc/unique_fd.hpp"

namespace vmm_pmr {

// An exported allocation: its descriptor and, for posix_fd, one fd per chunk (in chunk
// order). The fds are owned here and closed with it; importing does not consume them,
// so the same exported_allocation may be imported, or sent, several times.
struct exported_allocation {
  shared_allocation_descriptor descriptor;
  std::vector<unique_fd> fds;
};

}  // namespace vmm_pmr
