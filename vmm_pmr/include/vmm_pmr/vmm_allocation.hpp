// One VMM allocation as RAII objects: its reservation(s) and its mapped chunks.
//
// A fresh allocation is one reservation holding one chunk (physical memory + its
// mapping). A grown one may hold several chunks and several reservations; each
// reservation is still freed with its exact (base, size). An imported one is one
// reservation holding one chunk per handle another process exported, back to back.
//
// Invariant: chunks are destroyed before reservations (member order), and inside a
// chunk the mapping before the physical memory, so destruction is always
// unmap → release → free. A failure halfway through build() unwinds its locals in
// reverse order of construction (unmap → free → release, also an order the driver
// accepts) without any hand-written cleanup path.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "vmm_pmr/address_range.hpp"
#include "vmm_pmr/mapping.hpp"
#include "vmm_pmr/physical_memory.hpp"

namespace vmm_pmr {

struct mapped_chunk {
  physical_memory memory;
  mapping map;  // declared after memory: unmapped before the memory is released
};

class vmm_allocation {
 public:
  vmm_allocation() = default;
  vmm_allocation(std::vector<address_range> ranges, std::vector<mapped_chunk> chunks);

  // create → reserve → map → set access for `size` bytes (a multiple of the
  // granularity). Throws what the backend throws; nothing is left behind then.
  static vmm_allocation build(backend& owner, std::size_t size, std::size_t alignment,
                              const physical_properties& props,
                              std::span<const access_grant> access);

  // Maps memory exported elsewhere: reserves the chunks' total size once, imports each
  // handle and maps it at its offset, in order, then sets access once over the whole
  // contiguous range. The handles' fds stay the caller's. Throws what the backend throws
  // (a driver_error's detail says which chunk); nothing is left behind then.
  static vmm_allocation import(backend& owner, std::span<const shareable_handle> handles,
                               std::span<const std::size_t> chunk_sizes, std::size_t alignment,
                               std::span<const access_grant> access);

  vmm_allocation(vmm_allocation&&) noexcept = default;
  // Not defaulted: member-wise assignment would free the old reservations while
  // their chunks are still mapped.
  vmm_allocation& operator=(vmm_allocation&& other) noexcept;
  vmm_allocation(const vmm_allocation&) = delete;
  vmm_allocation& operator=(const vmm_allocation&) = delete;
  ~vmm_allocation() = default;

  bool empty() const noexcept { return chunks_.empty(); }
  address base() const noexcept { return chunks_.empty() ? 0 : chunks_.front().map.base(); }
  std::size_t mapped_bytes() const noexcept;
  std::span<const address_range> ranges() const noexcept { return ranges_; }
  std::span<const mapped_chunk> chunks() const noexcept { return chunks_; }

 private:
  std::vector<address_range> ranges_;
  std::vector<mapped_chunk> chunks_;  // declared after ranges_: destroyed first
};

}  // namespace vmm_pmr
