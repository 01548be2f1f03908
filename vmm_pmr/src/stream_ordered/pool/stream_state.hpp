// What the pool knows about one stream: its free blocks (exact-size cache and free list),
// the event that tells when the work before its frees is done, and the frees of other
// streams it has already been made to wait for.
//
// Invariant: every block in `free_blocks` or `recent` was freed on `stream`, and an event
// record covers a free when its sequence number is at most `event_covers`. A stream_state
// lives as long as its pool, so pointers to it stay valid across unlocked driver calls; once
// its stream is gone (destroyed_streams.cpp) it is emptied and kept for another stream.
#pragma once

#include <cstdint>
#include <memory_resource>
#include <utility>
#include <vector>

#include "stream_ordered/pool/free_lists.hpp"
#include "vmm_pmr/core/stream_view.hpp"
#include "vmm_pmr/handles/event.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_stats.hpp"

namespace vmm_pmr::detail {

struct stream_state {
  stream_state(stream_view stream, std::pmr::memory_resource* memory)
      : stream(stream), waited_for(memory) {
    usage.stream = stream;
  }

  std::size_t cached_bytes() const noexcept { return free_blocks.bytes() + recent.bytes(); }
  bool has_free_blocks() const noexcept { return !free_blocks.empty() || !recent.empty(); }
  // Empty, for `new_stream`; the event is kept. Older frees of this state's earlier stream
  // that other streams waited for are numbered below any free of the new one.
  void reset(stream_view new_stream, std::uint64_t new_serial) noexcept;
  // The newest free of `donor` this stream is already ordered after (0: none).
  std::uint64_t waited_sequence(const stream_state& donor) const noexcept;
  void note_wait(stream_state& donor, std::uint64_t covers);

  stream_view stream;
  free_list free_blocks;
  cached_bins recent;
  event done;                      // created when first recorded
  std::uint64_t newest_free = 0;   // sequence number of the latest block freed here
  std::uint64_t event_covers = 0;  // frees numbered up to this precede done's latest record
  bool event_recorded = false;
  bool event_complete = false;  // done's latest record was seen complete
  std::pmr::vector<std::pair<stream_state*, std::uint64_t>> waited_for;
  stream_usage usage;
  // The driver's number for the stream (backend::stream_serial): another stream that gets
  // the same handle has another one. 0: not known yet.
  std::uint64_t serial = 0;
};

}  // namespace vmm_pmr::detail
