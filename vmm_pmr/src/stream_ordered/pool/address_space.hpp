// The stream-ordered resource's one reservation: which parts are mapped (chunks) and
// which are not (holes).
//
// Invariant: holes, chunks, alias ranges, abandoned ranges and the ranges being mapped or
// unmapped right now (taken out of the holes, not yet chunks, or the reverse) tile the
// reservation without overlap. A range whose unmapping failed is abandoned, never given
// back: mapping over what may still be mapped would fail every later growth there. Holes
// are merged with their neighbours, so the lowest hole that fits is the lowest address that
// fits; chunks are never merged: each is one physical allocation and one mapping, unmapped
// and released as a whole.
#pragma once

#include <cstddef>
#include <map>
#include <memory_resource>

#include "vmm_pmr/backend/backend.hpp"

namespace vmm_pmr::detail {

class address_space {
 public:
  address_space(address base, std::size_t size, std::pmr::memory_resource* memory);

  address base() const noexcept { return base_; }
  std::size_t size() const noexcept { return size_; }
  bool contains(address at) const noexcept { return at >= base_ && at - base_ < size_; }

  // Unmapped ranges, by base address.
  const std::pmr::map<address, std::size_t>& holes() const noexcept { return holes_; }
  // Removes [at, at + size) from the hole that holds it.
  void take(address at, std::size_t size);
  // Makes [at, at + size) a hole again, merged with adjacent holes.
  void give_back(address at, std::size_t size);
  // Keeps [at, at + size), taken and no longer mapped as far as the pool knows, out of the
  // holes for good: its unmapping failed.
  void abandon(address at, std::size_t size) { abandoned_.emplace(at, size); }
  const std::pmr::map<address, std::size_t>& abandoned() const noexcept { return abandoned_; }

  // Mapped chunks, by base address.
  const std::pmr::map<address, std::size_t>& chunks() const noexcept { return chunks_; }
  void add_chunk(address at, std::size_t size);
  void remove_chunk(address at);
  std::size_t mapped_bytes() const noexcept { return mapped_bytes_; }

 private:
  address base_;
  std::size_t size_;
  std::pmr::map<address, std::size_t> holes_;
  std::pmr::map<address, std::size_t> chunks_;
  std::pmr::map<address, std::size_t> abandoned_;
  std::size_t mapped_bytes_ = 0;
};

}  // namespace vmm_pmr::detail
