// Alias ranges of a bounded pool (stream_ordered_options::footprint_limit): free chunks
// mapped a second time, back to back, at another address of the reservation.
//
// A request that no free block holds, when the limit forbids mapping new memory, needs
// contiguous addresses over memory the pool already has. VMM lets one physical chunk be
// mapped at several addresses, so the pool maps free chunks from wherever they lie into a
// fresh range and hands that range out as one block. Nothing is unmapped: the chunks keep
// their home in the pool's chunks, where they are lent (block_state::lent) while the range
// is in use, and free again once it is. A range is kept when its block is freed and serves
// the next request of exactly its size whose chunks are all free, with no driver call: a
// workload that repeats itself (a training step, the benchmark's trace) comes to a fixed set
// of ranges and then runs with no driver call and a footprint within the limit. Measured
// on an H100 (driver 580): a second mapping costs what the first does (cuMemMap ~1 µs,
// cuMemSetAccess ~22 µs per 2 MiB chunk, whatever the number of mappings up to 1,792),
// and kernels see one memory through both addresses across stream-ordered launches.
//
// Invariants, under the pool's lock:
//   - in use (user != null): every chunk of the range is lent at its home, and only to
//     this range; the user block is the whole range, live or cached;
//   - idle: no block is in the range, its addresses are in no free list, and its chunks
//     are whatever their homes say (free, live, lent to another range);
//   - a chunk is never released while a range maps it: ranges are retired first, and only
//     once the work of their last user is known complete (unmapping is not stream-ordered).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <utility>
#include <vector>

#include "vmm_pmr/backend/backend.hpp"

namespace vmm_pmr::detail {

struct block;
struct stream_state;

struct alias_range {
  alias_range(address base, std::pmr::vector<address> homes)
      : base(base), homes(std::move(homes)) {}

  address base = 0;
  // The home (base address in the pool's chunks) of the chunk mapped at each slot.
  std::pmr::vector<address> homes;
  block* user = nullptr;  // the block using the range, or null when idle
  // Since the range was last freed: the stream whose work may still use its addresses,
  // and the free's sequence number (null stream: none ever did).
  stream_state* last_stream = nullptr;
  std::uint64_t last_free_sequence = 0;
};

}  // namespace vmm_pmr::detail
