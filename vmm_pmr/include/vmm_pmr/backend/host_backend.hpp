// The host backend: the VMM model on Linux virtual memory.
//
//   physical memory  = a memfd_create() file of the allocation's size
//   reserve          = mmap(PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE)
//   map              = mmap(MAP_FIXED|MAP_SHARED, fd, offset), no access yet
//   set access       = mprotect
//   unmap            = the range goes back to a PROT_NONE reservation
//   export / import  = the memfd itself (dup'ed)
//
// It keeps its own table of reservations and mappings and refuses what the CUDA
// driver refuses (unaligned sizes, mapping over a mapping, partial unmaps, freeing a
// range that is not exactly one reservation), so logic tested here obeys the GPU's
// rules. It has one "device", ordinal 0, whose memory is the host's.
#pragma once

#include <cstddef>
#include <memory>

#include "vmm_pmr/backend/backend.hpp"

namespace vmm_pmr {

struct host_backend_options {
  // Granularity (minimum and recommended): the page size when 0, else this value,
  // which must be a power of two and a multiple of the page size. Set 2 MiB to round
  // like an H100.
  std::size_t granularity = 0;
  // Physical memory the backend may have live at once; create() beyond it throws
  // out_of_memory. 0: the machine's physical memory.
  std::size_t capacity = 0;
  // The CUDA driver (580, H100) maps only whole allocations: cuMemMap with a nonzero
  // offset or a size other than the allocation's fails with CUDA_ERROR_NOT_SUPPORTED,
  // and the host backend refuses the same. Set this to map parts of a memfd (offset
  // and size still multiples of the granularity, inside the allocation).
  bool allow_partial_mappings = false;
};

std::shared_ptr<backend> make_host_backend(host_backend_options options = {});

}  // namespace vmm_pmr
