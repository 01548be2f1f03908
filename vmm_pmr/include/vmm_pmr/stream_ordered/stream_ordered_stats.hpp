// Statistics of a stream_ordered_resource: its memory, and what served each request.
//
// Invariant (whenever no allocation is mid-growth): mapped_bytes == live_block_bytes +
// cached_bytes, since every mapped byte belongs to exactly one block (a chunk lent to an
// alias range through the range's block). The backend maps mapped_bytes + alias_bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "vmm_pmr/core/stream_view.hpp"

namespace vmm_pmr {

struct stream_ordered_stats {
  std::size_t live_count = 0;
  std::size_t live_bytes = 0;        // requested by live allocations
  std::size_t live_block_bytes = 0;  // held by live blocks (requests rounded to block sizes)
  std::size_t cached_bytes = 0;      // free blocks kept for reuse, on every stream
  std::size_t mapped_bytes = 0;      // physical memory mapped into the reservation
  // Of mapped_bytes, the chunks of a sleeping resource: their addresses and blocks are kept,
  // their physical memory was given back (stream_ordered_resource::sleep).
  std::size_t sleeping_bytes = 0;
  // With footprint_limit: alias ranges (free chunks mapped a second time where a request
  // needed them) and the addresses they map; they hold no memory of their own.
  std::size_t alias_ranges = 0;
  std::size_t alias_bytes = 0;
  std::size_t reserved_bytes = 0;  // the reservation's size
  std::size_t chunk_count = 0;
  std::size_t peak_live_bytes = 0;
  std::size_t peak_mapped_bytes = 0;

  std::uint64_t allocations = 0;
  std::uint64_t deallocations = 0;
  // What served allocations: the stream's own free blocks (no driver call), settled
  // blocks (no stream could still use them), blocks another stream freed once its work
  // had completed, blocks another stream freed once the allocating stream was ordered
  // after them (stream_waits counts the cuStreamWaitEvent calls that did so), new chunks
  // or a new alias range (grown_allocations; chunks_mapped counts the new chunks), and an
  // idle alias range (alias_reuses, below). They add up to allocations.
  std::uint64_t same_stream_reuses = 0;
  std::uint64_t settled_reuses = 0;
  std::uint64_t completed_stream_reuses = 0;
  std::uint64_t waited_stream_reuses = 0;
  std::uint64_t stream_waits = 0;
  std::uint64_t grown_allocations = 0;
  std::uint64_t chunks_mapped = 0;
  std::uint64_t chunks_released = 0;
  std::uint64_t bytes_released = 0;
  // Alias ranges, to keep the footprint within stream_ordered_options::footprint_limit:
  // made (alias_chunks_mapped counts their mappings: one map and an access grant each),
  // reused whole by a later request (no driver call), and unmapped again (retired).
  std::uint64_t alias_ranges_made = 0;
  std::uint64_t alias_chunks_mapped = 0;
  std::uint64_t alias_reuses = 0;
  std::uint64_t alias_ranges_retired = 0;
  std::uint64_t trims = 0;  // trim() calls and automatic trims that released memory
  // Streams found destroyed (or their handle taken by a new stream), and the waits for the
  // whole device that took back what they had freed.
  std::uint64_t streams_gone = 0;
  std::uint64_t device_synchronizations = 0;
  std::uint64_t deallocation_errors = 0;

  friend bool operator==(const stream_ordered_stats&, const stream_ordered_stats&) = default;
};

// One stream's share: allocations made on it (live until freed, on any stream) and the
// free blocks it holds (freed on it, not yet settled or handed to another stream).
struct stream_usage {
  stream_view stream;
  std::size_t live_count = 0;
  std::size_t live_bytes = 0;
  std::size_t cached_bytes = 0;
  std::uint64_t allocations = 0;
  std::uint64_t deallocations = 0;
};

// "2 live (3 MiB), 1 MiB cached, 4 MiB mapped in 2 chunks of 160 GiB reserved; peak 3 MiB
// live, 4 MiB mapped; 10 allocations (8 same-stream, 0 settled, 0 completed, 1 waited, 1 new
// chunk), 0 released, 0 bad deallocations", with the alias ranges when there are any.
std::string to_string(const stream_ordered_stats& stats);

}  // namespace vmm_pmr
