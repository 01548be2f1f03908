// Streams the user destroyed. A program may destroy a stream while the pool holds blocks
// freed on it (cudaMallocAsync allows it), and the driver may give the handle to a new
// stream. The pool must then neither call the driver with the old handle (it fails with
// CUDA_ERROR_CONTEXT_IS_DESTROYED) nor hand the old stream's blocks to the new one as its
// own: work queued on the old stream before it was destroyed still runs, and nothing can be
// recorded on it any more to tell when that work is done.
//
// So each state keeps the driver's number for its stream (backend::stream_serial), which a
// new stream with the same handle does not share, and the pool asks again before it calls
// the driver with another stream's handle, and before a slow-path allocation on the
// caller's. A stream found gone is forgotten: what it held goes to orphans_, its handle
// leaves the index (a new stream with it starts empty), and its state is kept for reuse.
// Blocks freed on a handle the driver knows no stream by go to orphans_ as well.
//
// Invariant: a block of orphans_ becomes ownerless only through reclaim_orphans(), after a
// synchronize_device() that began after it was freed (that waits for all work, a destroyed
// stream's included); no driver call names a forgotten stream's handle for that stream.
#include <fmt/format.h>

#include <algorithm>
#include <exception>

#include "stream_ordered/pool/stream_ordered_pool.hpp"
#include "vmm_pmr/core/error.hpp"

namespace vmm_pmr::detail {
namespace {

bool is_default_stream(stream_view stream) noexcept {
  return stream.is_legacy_default() || stream.is_per_thread_default();
}

}  // namespace

stream_state& stream_ordered_pool::add_state(stream_view stream) {
  std::uint64_t serial = 0;
  try {
    const std::optional<std::uint64_t> answer = driver_.stream_serial(stream);
    if (!answer) return orphans_;
    serial = *answer;
  } catch (const std::exception&) {
    // Asked again before the pool next calls the driver with this stream.
  }
  stream_state* state = nullptr;
  if (spare_streams_.empty()) {
    state = &streams_.emplace_back(stream, &bookkeeping_);
    state->serial = serial;
  } else {
    streams_.splice(streams_.end(), spare_streams_, spare_streams_.begin());
    state = &streams_.back();
    state->reset(stream, serial);
  }
  stream_index_.emplace(stream.id(), state);
  return *(last_stream_ = state);
}

bool stream_ordered_pool::stream_is_gone(stream_state& state) {
  if (&state == &orphans_) return true;
  if (is_default_stream(state.stream)) return false;
  const std::optional<std::uint64_t> serial = driver_.stream_serial(state.stream);
  if (serial && (state.serial == 0 || *serial == state.serial)) {
    state.serial = *serial;
    return false;
  }
  forget_stream(state);
  return true;
}

stream_state& stream_ordered_pool::live_caller_state(stream_state& state, stream_view stream) {
  if (!stream_is_gone(state)) return state;
  stream_state& fresh = find_or_add_state(stream);
  if (&fresh != &orphans_) return fresh;
  throw invalid_argument(fmt::format(
      "{} is not a live stream: the driver knows no stream by that handle (it was destroyed, "
      "or never created). Allocate on a stream that exists; blocks freed on a destroyed "
      "stream are reused once the device's work has completed",
      to_string(stream)));
}

void stream_ordered_pool::forget_stream(stream_state& state) {
  // What an event already recorded on it covers is known complete once the event is: events
  // outlive their stream.
  if (state.event_recorded && stream_is_done(state)) make_ownerless(state, state.event_covers);
  flush_cache(state);
  std::pmr::vector<block*> freed(&bookkeeping_);
  state.free_blocks.for_each([&](block& b) { freed.push_back(&b); });
  // Merging only joins orphans_' and ownerless blocks, never one still in `freed`.
  for (block* b : freed) {
    state.free_blocks.erase(*b);
    release_into(*b, &orphans_);
  }
  blocks_.for_each([&](block& b) {
    if (b.state == block_state::live && b.stream == &state) b.stream = &orphans_;
  });
  orphans_.usage.live_count += state.usage.live_count;
  orphans_.usage.live_bytes += state.usage.live_bytes;
  for (alias_range& range : aliases_) {
    if (range.last_stream == &state) range.last_stream = &orphans_;
  }
  for (stream_state& other : streams_) {
    std::erase_if(other.waited_for, [&](const auto& wait) { return wait.first == &state; });
  }
  const auto indexed = stream_index_.find(state.stream.id());
  if (indexed != stream_index_.end() && indexed->second == &state) stream_index_.erase(indexed);
  if (last_stream_ == &state) last_stream_ = nullptr;
  const auto position = std::find_if(streams_.begin(), streams_.end(),
                                     [&](const stream_state& s) { return &s == &state; });
  spare_streams_.splice(spare_streams_.end(), streams_, position);
  state.reset(stream_view{}, 0);
  ++stats_.streams_gone;
}

bool stream_ordered_pool::orphans_hold_memory() const noexcept {
  return orphans_.has_free_blocks() ||
         std::any_of(aliases_.begin(), aliases_.end(), [&](const alias_range& range) {
           return range.user == nullptr && range.last_stream == &orphans_;
         });
}

bool stream_ordered_pool::reclaim_orphans(std::unique_lock<spin_lock>& lock) {
  if (!orphans_hold_memory()) return false;
  const std::uint64_t covers = free_sequence_;
  lock.unlock();
  driver_.synchronize_device();
  lock.lock();
  ++stats_.device_synchronizations;
  make_ownerless(orphans_, covers);
  for (alias_range& range : aliases_) {
    if (range.last_stream == &orphans_ && range.last_free_sequence <= covers) {
      range.last_stream = nullptr;
    }
  }
  return true;
}

}  // namespace vmm_pmr::detail
