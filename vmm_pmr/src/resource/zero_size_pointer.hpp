// The pointer allocate(0) returns, for vmm_resource and stream_ordered_resource alike.
//
// std::pmr's allocate() may not return nullptr (libstdc++ marks it returns_nonnull), so a
// zero-byte request gets a non-null, aligned pointer that maps nothing: the alignment's
// value (at least alignof(std::max_align_t)), which lies in the never-mapped first pages
// for alignments below 64 KiB (Linux's mmap_min_addr). It must not be dereferenced.
// Since the pointer is its alignment, a deallocate(p, 0) with another alignment than
// allocate's can be told from a foreign pointer, and both alignments named.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "vmm_pmr/core/byte_size.hpp"

namespace vmm_pmr::detail {

inline void* zero_size_pointer(std::size_t alignment) noexcept {
  return reinterpret_cast<void*>(std::max(alignment, alignof(std::max_align_t)));
}

// Whether allocate(0, a) returns `pointer` for some alignment a.
inline bool is_zero_size_pointer(const void* pointer) noexcept {
  const auto value = reinterpret_cast<std::uintptr_t>(pointer);
  return value >= alignof(std::max_align_t) && is_power_of_two(value);
}

// Why deallocate(pointer, 0, alignment) frees nothing, for a zero-size pointer made for
// another alignment: std::pmr requires deallocate to get allocate's alignment.
inline std::string zero_size_alignment_mismatch(const void* pointer, std::size_t alignment) {
  const auto made_for = reinterpret_cast<std::uintptr_t>(pointer);
  if (made_for == alignof(std::max_align_t)) {
    return fmt::format(
        "alignment differs: deallocate was given alignment {}, but {} is the pointer "
        "allocate(0) returns for alignments up to {}; pass the alignment given to allocate "
        "(std::pmr requires the same)",
        alignment, pointer, made_for);
  }
  return fmt::format(
      "alignment differs: deallocate was given alignment {}, but {} is the pointer "
      "allocate(0, {}) returns; pass alignment {}, the one given to allocate (std::pmr requires "
      "the same)",
      alignment, pointer, made_for, made_for);
}

}  // namespace vmm_pmr::detail
