// The pool's entry points and lifetime: construction, allocate() and deallocate() (the hot
// path: the exact-size cache, a push and a pop under the spin lock), shut_down() and the
// statistics. The order of attempts and the invariants are in stream_ordered_pool.hpp;
// each step lives in the file its comment there names.
#include "stream_ordered/pool/stream_ordered_pool.hpp"

#include <algorithm>
#include <exception>
#include <utility>

#include "vmm_pmr/core/cleanup_errors.hpp"
#include "vmm_pmr/core/error.hpp"

namespace vmm_pmr::detail {
namespace {

// Frees over the release threshold between two automatic trims that released nothing.
constexpr std::uint32_t auto_trim_retry_interval = 64;

// The reservation's alignment: what the options ask, and at least the largest power of two
// that divides min_chunk_size, so that slots of the chunk grid are as aligned as a chunk's
// size allows whatever address the backend picks (a bounded pool places alias ranges on
// that grid at the request's alignment).
std::size_t grid_alignment(const pool_settings& settings) {
  const std::size_t chunk = settings.min_chunk_size;
  return std::max(settings.reservation_alignment, chunk & (~chunk + 1));
}

}  // namespace

stream_ordered_pool::stream_ordered_pool(backend& driver, mapping_registry& registry,
                                         const void* owner, pool_settings settings)
    : driver_(driver),
      registry_(registry),
      owner_(owner),
      settings_(std::move(settings)),
      reservation_(driver, settings_.reservation_size, grid_alignment(settings_)),
      space_(reservation_.base(), reservation_.size(), &bookkeeping_),
      blocks_(&bookkeeping_),
      streams_(&bookkeeping_),
      stream_index_(&bookkeeping_),
      orphans_(stream_view{}, &bookkeeping_),
      spare_streams_(&bookkeeping_) {
  stats_.reserved_bytes = reservation_.size();
}

// shut_down() normally released everything already; this covers a pool that was never
// shut down (its owner's constructor threw after creating it).
stream_ordered_pool::~stream_ordered_pool() { registry_.release_all(owner_).first.clear(); }

stream_state& stream_ordered_pool::find_or_add_state(stream_view stream) {
  const auto found = stream_index_.find(stream.id());
  if (found != stream_index_.end()) return *(last_stream_ = found->second);
  return add_state(stream);
}

void* stream_ordered_pool::allocate(std::size_t bytes, std::size_t block_size,
                                    std::size_t alignment, stream_view stream) {
  std::unique_lock lock(lock_);
  stream_state& cached_state = state_of(stream);
  if (block* reused = cached_state.recent.pop(block_size, alignment)) {
    ++stats_.same_stream_reuses;
    hand_out(*reused, cached_state, bytes);
    return reinterpret_cast<void*>(reused->base);
  }

  if (asleep_) throw pool_asleep();
  stream_state& state = live_caller_state(cached_state, stream);
  for (int attempt = 0;; ++attempt) {
    if (block* cached = allocate_from_free_blocks(state, block_size, alignment)) {
      hand_out(*cached, state, bytes);
      return reinterpret_cast<void*>(cached->base);
    }
    // Rather than grow, wait for the device once what destroyed streams freed would serve.
    if (orphans_.cached_bytes() >= block_size && reclaim_orphans(lock)) continue;
    try {
      if (bounded()) return allocate_bounded(lock, state, bytes, block_size, alignment);
      return allocate_by_growing(lock, state, bytes, block_size, alignment);
    } catch (const out_of_memory&) {
      if (attempt > 0) throw;
    }
    // Out of memory or address space: give back what is free everywhere (waiting for the
    // streams that freed it), and try everything once more.
    lock.unlock();
    try {
      trim(0);
    } catch (const error&) {
      // A stream is capturing: nothing can be unmapped now; the retry will tell.
    }
    lock.lock();
  }
}

void stream_ordered_pool::hand_out(block& b, stream_state& stream, std::size_t bytes) noexcept {
  b.state = block_state::live;
  b.stream = &stream;
  b.requested = bytes;
  b.next_cached = nullptr;
  ++stats_.allocations;
  ++stats_.live_count;
  stats_.live_bytes += bytes;
  stats_.live_block_bytes += b.size;
  stats_.cached_bytes -= b.size;
  stats_.peak_live_bytes = std::max(stats_.peak_live_bytes, stats_.live_bytes);
  ++stream.usage.allocations;
  ++stream.usage.live_count;
  stream.usage.live_bytes += bytes;
}

free_outcome stream_ordered_pool::deallocate(void* pointer, std::size_t bytes, stream_view stream) {
  const auto at = reinterpret_cast<address>(pointer);
  bool trim_now = false;
  {
    std::lock_guard lock(lock_);
    block* b = blocks_.find(at);
    if (b == nullptr || b->state != block_state::live || b->requested != bytes) {
      return diagnose_bad_free(at, b);
    }
    trim_now = free_live_block(*b, state_of(stream));
  }
  if (trim_now) trim_without_waiting();
  return {};
}

free_outcome stream_ordered_pool::deallocate_by_pointer(void* pointer) {
  const auto at = reinterpret_cast<address>(pointer);
  bool trim_now = false;
  {
    std::lock_guard lock(lock_);
    block* b = blocks_.find(at);
    if (b == nullptr || b->state != block_state::live) return diagnose_bad_free(at, b);
    // A live block's stream is the one that allocated it.
    trim_now = free_live_block(*b, *b->stream);
  }
  if (trim_now) trim_without_waiting();
  return {};
}

std::optional<std::pair<std::size_t, stream_view>> stream_ordered_pool::live_block_at(
    const void* pointer) const {
  std::lock_guard lock(lock_);
  const block* b = blocks_.find(reinterpret_cast<address>(pointer));
  if (b == nullptr || b->state != block_state::live) return std::nullopt;
  return std::pair{b->requested, b->stream->stream};
}

bool stream_ordered_pool::free_live_block(block& b, stream_state& freeing) {
  count_free(b, freeing);
  if (!asleep_ && &freeing != &orphans_ && freeing.recent.push(b)) {
    b.state = block_state::cached;
  } else {
    release_into(b, &freeing);
  }
  if (settings_.release_threshold && stats_.cached_bytes > *settings_.release_threshold) {
    return stats_.cached_bytes >= auto_trim_trigger_ ||
           ++frees_since_auto_trim_ >= auto_trim_retry_interval;
  }
  return false;
}

void stream_ordered_pool::count_free(block& b, stream_state& freeing) noexcept {
  stream_state& allocating = *b.stream;
  --allocating.usage.live_count;
  allocating.usage.live_bytes -= b.requested;
  ++freeing.usage.deallocations;
  ++stats_.deallocations;
  --stats_.live_count;
  stats_.live_bytes -= b.requested;
  stats_.live_block_bytes -= b.size;
  stats_.cached_bytes += b.size;
  b.requested = 0;
  b.free_sequence = ++free_sequence_;
  freeing.newest_free = b.free_sequence;
  b.stream = &freeing;
}

std::pmr::vector<stream_state*> stream_ordered_pool::streams_to_wait_for_at_shutdown() {
  std::pmr::vector<stream_state*> busy(&bookkeeping_);
  for (stream_state& stream : streams_) {
    if (!stream.free_blocks.empty()) busy.push_back(&stream);
  }
  // Alias ranges are unmapped too: their last users' work is waited for first.
  for (const alias_range& range : aliases_) {
    if (range.user == nullptr && range.last_stream != nullptr && range.last_stream != &orphans_ &&
        std::find(busy.begin(), busy.end(), range.last_stream) == busy.end()) {
      busy.push_back(range.last_stream);
    }
  }
  return busy;
}

std::vector<leaked_block> stream_ordered_pool::shut_down() {
  std::unique_lock lock(lock_);
  flush_all_caches();
  // A destroyed stream cannot be waited for: the device is.
  for (auto it = streams_.begin(); it != streams_.end();) {
    stream_state& stream = *it++;
    if (!stream.has_free_blocks()) continue;
    try {
      stream_is_gone(stream);
    } catch (const std::exception& failure) {
      report_cleanup_error("asking the driver about " + to_string(stream.stream), failure);
    }
  }
  const bool wait_for_device = orphans_hold_memory();
  const std::pmr::vector<stream_state*> busy = streams_to_wait_for_at_shutdown();
  std::vector<leaked_block> leaked;
  blocks_.for_each([&](const block& b) {
    if (b.state == block_state::live) leaked.push_back({b.base, b.requested, b.size});
  });
  lock.unlock();

  // Memory freed on a stream is unmapped only after that stream's work is done.
  for (stream_state* stream : busy) {
    try {
      if (driver_.stream_is_capturing(stream->stream)) {
        throw error(to_string(stream->stream) +
                    " is capturing a CUDA graph: its frees cannot be waited for");
      }
      record_frees(*stream);
      stream->done.synchronize();
    } catch (const std::exception& failure) {
      report_cleanup_error(
          "waiting for " + to_string(stream->stream) + " before unmapping its freed blocks",
          failure);
    }
  }
  if (wait_for_device) {
    try {
      driver_.synchronize_device();
    } catch (const std::exception& failure) {
      report_cleanup_error("waiting for the device before unmapping what destroyed streams freed",
                           failure);
    }
  }
  // Unmaps and releases every chunk (outside the registry's lock); the reservation goes
  // with the pool.
  registry_.release_all(owner_).first.clear();
  return leaked;
}

stream_ordered_stats stream_ordered_pool::stats() const {
  std::lock_guard lock(lock_);
  stream_ordered_stats copy = stats_;
  copy.mapped_bytes = space_.mapped_bytes();
  copy.chunk_count = space_.chunks().size();
  copy.alias_ranges = aliases_.size();
  copy.alias_bytes = alias_bytes_;
  for (const sleeping_chunk& chunk : sleeping_) copy.sleeping_bytes += chunk.size;
  return copy;
}

std::vector<stream_usage> stream_ordered_pool::stream_stats() const {
  std::lock_guard lock(lock_);
  std::vector<stream_usage> usages;
  usages.reserve(streams_.size());
  for (const stream_state& stream : streams_) {
    usages.push_back(stream.usage);
    usages.back().cached_bytes = stream.cached_bytes();
  }
  return usages;
}

}  // namespace vmm_pmr::detail
