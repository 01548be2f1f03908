// Waiting for streams: the event each stream records after its frees, and what becomes
// ownerless once that event is known complete.
//
// A block freed on stream S may still be used by work queued on S before the free. An
// event recorded on S after the free covers it (free_sequence ≤ event_covers); once the
// event is complete, the block is ownerless: any stream may take it, trim may unmap it.
// Invariant: a block becomes ownerless only through make_ownerless(), and only with a
// `covers` of a record seen complete (queried, or waited for without the lock).
#include <fmt/format.h>

#include <algorithm>

#include "stream_ordered/pool/stream_ordered_pool.hpp"
#include "vmm_pmr/core/error.hpp"

namespace vmm_pmr::detail {

void stream_ordered_pool::record_frees(stream_state& stream) {
  if (stream.event_recorded && stream.event_covers >= stream.newest_free) return;
  if (!stream.done) stream.done = event(driver_);
  stream.done.record(stream.stream);
  stream.event_recorded = true;
  stream.event_complete = false;
  stream.event_covers = free_sequence_;
}

bool stream_ordered_pool::stream_is_done(stream_state& stream) {
  if (!stream.event_complete && stream.done.complete()) stream.event_complete = true;
  return stream.event_complete;
}

void stream_ordered_pool::make_ownerless(stream_state& stream, std::uint64_t covers) {
  flush_cache(stream);
  std::pmr::vector<block*> covered(&bookkeeping_);
  stream.free_blocks.for_each([&](block& b) {
    if (b.free_sequence <= covers) covered.push_back(&b);
  });
  // Each block merges only with ownerless neighbours, which are never still in `covered`:
  // the pointers stay valid until their turn.
  for (block* b : covered) {
    stream.free_blocks.erase(*b);
    release_into(*b, nullptr);
  }
}

void stream_ordered_pool::free_completed_streams() {
  // A gone stream leaves streams_: step past it first.
  for (auto it = streams_.begin(); it != streams_.end();) {
    stream_state& stream = *it++;
    if (!stream.has_free_blocks() || stream_is_gone(stream)) continue;
    // What an earlier record covers goes first: recording again for newer frees would
    // otherwise make those wait for the new record too.
    if (stream.event_recorded && stream_is_done(stream)) {
      make_ownerless(stream, stream.event_covers);
      if (!stream.has_free_blocks()) continue;
    }
    record_frees(stream);
    if (stream_is_done(stream)) make_ownerless(stream, stream.event_covers);
  }
}

const stream_state* stream_ordered_pool::capturing_stream() {
  for (auto it = streams_.begin(); it != streams_.end();) {
    stream_state& stream = *it++;
    if (stream_is_gone(stream)) continue;
    if (driver_.stream_is_capturing(stream.stream)) return &stream;
  }
  return nullptr;
}

void stream_ordered_pool::add_wait(std::pmr::vector<pending_wait>& waits, stream_state& stream) {
  const bool known = std::any_of(waits.begin(), waits.end(),
                                 [&](const pending_wait& w) { return w.stream == &stream; });
  if (known || stream_is_gone(stream)) return;  // the orphans are waited for apart
  record_frees(stream);
  waits.push_back({&stream, stream.event_covers});
}

void stream_ordered_pool::wait_without_lock(std::unique_lock<spin_lock>& lock,
                                            const std::pmr::vector<pending_wait>& waits) {
  lock.unlock();
  for (const pending_wait& wait : waits) wait.stream->done.synchronize();
  lock.lock();
  for (const pending_wait& wait : waits) after_wait(*wait.stream, wait.covers);
}

void stream_ordered_pool::after_wait(stream_state& stream, std::uint64_t covers) {
  // Recorded again meanwhile: the newer record is not known complete.
  if (stream.event_covers == covers) stream.event_complete = true;
  make_ownerless(stream, covers);
}

void stream_ordered_pool::wait_for_stream(stream_view stream) {
  std::unique_lock lock(lock_);
  stream_state& state = state_of(stream);
  // A destroyed stream's frees are the orphans': settled by waiting for the device.
  if (stream_is_gone(state)) {
    reclaim_orphans(lock);
    return;
  }
  if (!state.has_free_blocks()) return;
  if (driver_.stream_is_capturing(state.stream)) {
    throw error(fmt::format(
        "stream_ordered_resource::settle(): {} is capturing a CUDA graph; its frees cannot be "
        "waited for until the capture ends",
        to_string(stream)));
  }
  flush_cache(state);
  record_frees(state);
  const std::uint64_t covers = state.event_covers;
  lock.unlock();
  state.done.synchronize();
  lock.lock();
  after_wait(state, covers);
}

}  // namespace vmm_pmr::detail
