// How the chunks of an exported allocation fit together, and its wire format.
//
// An allocation is exported chunk by chunk (a grown allocation has several): one
// shareable handle per chunk, plus a small descriptor saying how the chunks fit
// together. The importer maps the chunks, in order, into one contiguous reservation
// of its own.
//
// The descriptor's wire format (serialize/parse), all integers little-endian:
//   u32 magic "VMMP"  u32 version (1)  u32 handle type (1 posix_fd, 2 fabric)
//   u32 chunk count   u64 granularity   u64 requested bytes   u64 chunk size × count
//   then, for fabric handles only, 64 bytes × count
// parse() rejects anything truncated, trailing, or inconsistent (chunk sizes that are
// not nonzero multiples of the granularity, a requested size of 0 or larger than the
// chunks, sums that overflow) with invalid_argument saying which.
//
// Invariant: a descriptor that validate() accepts serializes to bytes that parse()
// accepts and gives back equal; serialize() refuses a descriptor validate() refuses.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "vmm_pmr/core/handle_types.hpp"

namespace vmm_pmr {

struct shared_allocation_descriptor {
  static constexpr std::uint32_t magic = 0x504d4d56;  // "VMMP"
  static constexpr std::uint32_t version = 1;
  static constexpr std::size_t max_chunks = 1 << 16;
  static constexpr std::size_t header_bytes = 32;  // magic .. requested bytes
  static constexpr std::size_t fabric_handle_bytes = 64;

  handle_types handle_type = handle_types::posix_fd;  // exactly one type
  // The exporter's granularity: every chunk size is a multiple of it, and the importer
  // must be able to map at that granularity.
  std::size_t granularity = 0;
  std::size_t requested_bytes = 0;  // what the exporter's caller asked for
  std::vector<std::size_t> chunk_sizes;
  std::vector<std::array<std::uint8_t, fabric_handle_bytes>>
      fabric_handles;  // fabric: one per chunk

  // The sum of the chunk sizes (saturates at SIZE_MAX; validate() refuses that).
  std::size_t mapped_bytes() const noexcept;
  // Throws invalid_argument naming the first inconsistency.
  void validate() const;
  // The wire format above; throws invalid_argument when validate() does.
  std::vector<std::byte> serialize() const;
  static shared_allocation_descriptor parse(std::span<const std::byte> bytes);
  // The whole length of the serialized descriptor that starts with `header` (at least
  // header_bytes long): what a reader of a byte stream must read in all. Throws
  // invalid_argument for a header parse() would refuse (magic, version, type, count).
  static std::size_t serialized_bytes(std::span<const std::byte> header);

  friend bool operator==(const shared_allocation_descriptor&,
                         const shared_allocation_descriptor&) = default;
};

}  // namespace vmm_pmr
