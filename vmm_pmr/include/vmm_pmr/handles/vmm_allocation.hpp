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
//
// Layout of a live allocation: the chunks lie back to back from base(), and so do the
// reservations, which cover at least the chunks (more when address space was reserved
// ahead, or after shrinking). Every mapped byte has the access the allocation was
// built with.
//
// Growth and shrinking come in two halves, so that the registry that owns a live
// allocation can apply them under its lock without a driver call: build_extension()
// and build_relocation() make the new driver objects and leave the allocation
// untouched (on failure they throw what the backend throws and leave nothing behind);
// append(), relocate() and split_tail() only move handles from one object to another.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "vmm_pmr/handles/address_range.hpp"
#include "vmm_pmr/handles/mapping.hpp"
#include "vmm_pmr/handles/physical_memory.hpp"

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
  // `reserved_size` (0: `size`; a multiple of the granularity, not below `size`) is the
  // address space reserved, so the allocation can grow to it in place.
  static vmm_allocation build(backend& owner, std::size_t size, std::size_t alignment,
                              const physical_properties& props,
                              std::span<const access_grant> access, std::size_t reserved_size = 0);

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

  bool empty() const noexcept { return chunks_.empty() && ranges_.empty(); }
  address base() const noexcept { return chunks_.empty() ? 0 : chunks_.front().map.base(); }
  std::size_t mapped_bytes() const noexcept;
  std::size_t reserved_bytes() const noexcept;
  std::span<const address_range> ranges() const noexcept { return ranges_; }
  std::span<const mapped_chunk> chunks() const noexcept { return chunks_; }

  // `map_bytes` (may be 0) of new physical memory mapped right behind the last chunk,
  // access granted once over it; when the reservations end too early for that, or
  // before `reserve_bytes` more bytes of address space, the address space missing is
  // reserved right behind the last reservation (and the new memory is then split in two
  // chunks at the reservations' boundary, so no mapping spans two reservations). An empty
  // allocation when that address is taken (the backend offered another, which is given back at
  // once). The allocation returned holds the new reservation (if any) and the new chunk (if any),
  // for append().
  vmm_allocation build_extension(backend& owner, std::size_t map_bytes, std::size_t reserve_bytes,
                                 const physical_properties& props,
                                 std::span<const access_grant> access) const;
  // This allocation's physical memory mapped again, chunk by chunk, at the start of a new
  // reservation of `reserved_size` bytes aligned to `alignment`, followed by `map_bytes`
  // (may be 0) of new physical memory, with access granted once over all of it. Its
  // first chunks hold mappings only: relocate() moves the physical memory in.
  vmm_allocation build_relocation(backend& owner, std::size_t map_bytes, std::size_t reserved_size,
                                  std::size_t alignment, const physical_properties& props,
                                  std::span<const access_grant> access) const;

  // Takes an extension's reservation and chunk behind this allocation's. Throws
  // std::bad_alloc before changing anything when the lists cannot grow.
  void append(vmm_allocation&& extension);
  // Moves this allocation's physical memory into `relocation`'s first chunks and takes
  // its layout. Returns the old mappings and reservations, whose destruction unmaps and
  // frees them.
  vmm_allocation relocate(vmm_allocation&& relocation) noexcept;
  // Moves the chunks from index `chunks_kept` on into the returned allocation, whose
  // destruction unmaps and releases them; the reservations stay. Throws std::bad_alloc
  // before changing anything when the list cannot be made.
  vmm_allocation split_tail(std::size_t chunks_kept);

 private:
  std::vector<address_range> ranges_;
  std::vector<mapped_chunk> chunks_;  // declared after ranges_: destroyed first
};

}  // namespace vmm_pmr
