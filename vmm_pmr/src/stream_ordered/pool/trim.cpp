// Trim: giving mapped memory back to the driver. A chunk is released when every block in
// it is free and ownerless; idle alias ranges that map it are unmapped first.
//
// Invariant: nothing a stream's queued work may still use is unmapped (unmapping is not
// stream-ordered): trim() waits for the streams that freed into otherwise free chunks and
// for the last users of idle ranges; the automatic trim only queries events. Nothing is
// unmapped while a stream captures a graph. Unmapping runs without the lock, after the
// chunks are cut out of the blocks and the ranges out of aliases_.
#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <exception>
#include <iterator>

#include "stream_ordered/pool/stream_ordered_pool.hpp"
#include "vmm_pmr/core/byte_size.hpp"
#include "vmm_pmr/core/cleanup_errors.hpp"
#include "vmm_pmr/core/error.hpp"

namespace vmm_pmr::detail {

bool stream_ordered_pool::chunk_is_free(address base, std::size_t size, bool ownerless_only) {
  const address end = base + size;
  block* b = blocks_.containing(base);
  while (b != nullptr) {
    const bool free = b->is_free() || b->state == block_state::cached;
    if (!free || (ownerless_only && b->stream != nullptr)) return false;
    if (b->end() >= end) return true;
    b = blocks_.adjacent_after(*b);
  }
  return false;
}

void stream_ordered_pool::cut_out_chunk(address base, std::size_t size) {
  const address end = base + size;
  block* b = blocks_.containing(base);
  ownerless_.erase(*b);
  if (b->base < base) {
    block& inside = blocks_.split(*b, base);
    ownerless_.insert(*b);
    b = &inside;
  }
  for (;;) {
    if (b->end() > end) ownerless_.insert(blocks_.split(*b, end));
    const address next = b->end();
    blocks_.erase(*b);
    if (next >= end) break;
    b = blocks_.find(next);
    ownerless_.erase(*b);
  }
  space_.remove_chunk(base);
  stats_.cached_bytes -= size;
}

std::size_t stream_ordered_pool::release_free_chunks(std::unique_lock<spin_lock>& lock,
                                                     std::size_t bytes_to_keep) {
  address_list releasing(&bookkeeping_);
  std::size_t released_bytes = 0;
  std::pmr::vector<std::pair<address, std::size_t>> chunks(space_.chunks().rbegin(),
                                                           space_.chunks().rend(), &bookkeeping_);
  for (const auto& [base, size] : chunks) {
    if (stats_.cached_bytes < bytes_to_keep || stats_.cached_bytes - bytes_to_keep < size) {
      continue;
    }
    if (!chunk_is_free(base, size, true)) continue;
    cut_out_chunk(base, size);
    releasing.emplace_back(base, size);
    released_bytes += size;
  }
  if (releasing.empty()) return 0;
  address_list retiring(&bookkeeping_);
  retire_ranges_mapping(releasing, retiring);
  unmap_retired(lock, retiring, releasing);
  stats_.chunks_released += releasing.size();
  stats_.bytes_released += released_bytes;
  ++stats_.trims;
  return released_bytes;
}

void stream_ordered_pool::retire_ranges_mapping(const address_list& releasing,
                                                address_list& retiring) {
  // An ownerless free chunk says that the work of the range's last user is complete: its
  // free gave the chunk that user's stream, and only an event recorded after it made the
  // chunk ownerless.
  std::pmr::vector<address> released_homes(&bookkeeping_);
  for (const auto& [base, size] : releasing) released_homes.push_back(base);
  std::sort(released_homes.begin(), released_homes.end());
  for (auto range = aliases_.begin(); range != aliases_.end();) {
    const bool maps_released =
        std::any_of(range->homes.begin(), range->homes.end(), [&](address home) {
          return std::binary_search(released_homes.begin(), released_homes.end(), home);
        });
    auto next = std::next(range);
    if (maps_released) {
      assert(range->user == nullptr);  // a range in use holds its chunks: none is free
      retire(range, retiring);
    }
    range = next;
  }
}

void stream_ordered_pool::unmap_retired(std::unique_lock<spin_lock>& lock, address_list& retiring,
                                        address_list& releasing) {
  // Made under the lock: bookkeeping_ is not thread-safe (ThreadSanitizer caught a vector
  // being allocated from it while another thread allocated under the lock).
  std::pmr::vector<bool> reusable(retiring.size() + releasing.size(), true, &bookkeeping_);
  // Whether the registry's entry at `base` went without a cleanup error. A range that may
  // still be mapped would make every later map into it fail: it is left out of the holes
  // for good (the cleanup report says why).
  const auto unmapped = [&](address base, std::size_t size, const char* what) {
    const std::size_t failures_before = cleanup_error_count();
    removal outcome = registry_.remove(owner_, reinterpret_cast<void*>(base), size);
    if (outcome.status != removal_status::removed) {
      report_cleanup_error(fmt::format("unmap {} {:#x} ({})", what, base, format_bytes(size)),
                           error(fmt::format("the mapping registry no longer knew the {}", what)));
    }
    outcome.allocation = vmm_allocation();  // unmaps (a chunk's memory is released too)
    return cleanup_error_count() == failures_before;
  };
  lock.unlock();
  // The ranges first: the chunks' memory then goes with their own mappings.
  std::size_t i = 0;
  for (const auto& [base, size] : retiring) reusable[i++] = unmapped(base, size, "alias range");
  for (const auto& [base, size] : releasing) reusable[i++] = unmapped(base, size, "chunk");
  lock.lock();
  i = 0;
  for (const address_list* unmapping : {&retiring, &releasing}) {
    for (const auto& [base, size] : *unmapping) {
      if (reusable[i++]) {
        space_.give_back(base, size);
      } else {
        space_.abandon(base, size);
      }
    }
  }
  stats_.alias_ranges_retired += retiring.size();
}

std::pmr::vector<stream_ordered_pool::pending_wait> stream_ordered_pool::waits_before_trim() {
  std::pmr::vector<pending_wait> waits(&bookkeeping_);
  // The streams that freed into chunks that are otherwise free.
  for (const auto& [base, size] : space_.chunks()) {
    if (!chunk_is_free(base, size, false)) continue;
    for (block* b = blocks_.containing(base); b != nullptr && b->base < base + size;
         b = blocks_.adjacent_after(*b)) {
      if (b->stream != nullptr) add_wait(waits, *b->stream);
    }
  }
  // And the last users of idle alias ranges, which trim unmaps too.
  for (const alias_range& range : aliases_) {
    if (range.user == nullptr && range.last_stream != nullptr) add_wait(waits, *range.last_stream);
  }
  return waits;
}

void stream_ordered_pool::retire_done_alias_ranges(std::unique_lock<spin_lock>& lock) {
  address_list retiring(&bookkeeping_);
  for (auto range = aliases_.begin(); range != aliases_.end();) {
    auto next = std::next(range);
    if (range->user == nullptr && alias_range_done(*range)) retire(range, retiring);
    range = next;
  }
  if (retiring.empty()) return;
  address_list no_chunks(&bookkeeping_);
  unmap_retired(lock, retiring, no_chunks);
}

std::size_t stream_ordered_pool::trim(std::size_t bytes_to_keep) {
  std::unique_lock lock(lock_);
  if (asleep_) return 0;  // nothing holds physical memory
  if (const stream_state* capturing = capturing_stream()) {
    throw error(fmt::format(
        "stream_ordered_resource::trim(): {} is capturing a CUDA graph; memory cannot be "
        "unmapped during a capture (end the capture first)",
        to_string(capturing->stream)));
  }
  flush_all_caches();
  const std::pmr::vector<pending_wait> waits = waits_before_trim();
  // After the waits were chosen: choosing them finds the streams that are gone.
  reclaim_orphans(lock);
  if (!waits.empty()) wait_without_lock(lock, waits);
  retire_done_alias_ranges(lock);
  return release_free_chunks(lock, bytes_to_keep);
}

std::size_t stream_ordered_pool::trim_without_waiting() noexcept {
  try {
    std::unique_lock lock(lock_);
    if (asleep_) return 0;
    const std::size_t threshold = settings_.release_threshold.value_or(0);
    std::size_t released = 0;
    // Nothing is unmapped while a graph is being captured.
    if (capturing_stream() == nullptr) {
      flush_all_caches();
      free_completed_streams();
      released = release_free_chunks(lock, threshold);
    }
    // What could not be released yet (still in use on its stream, or in chunks that hold
    // live blocks) is tried again once the cache has grown by another chunk, or after a
    // number of frees (by then the streams' work may have completed).
    auto_trim_trigger_ =
        stats_.cached_bytes > threshold ? stats_.cached_bytes + settings_.min_chunk_size : 0;
    frees_since_auto_trim_ = 0;
    return released;
  } catch (const std::exception& failure) {
    report_cleanup_error("automatic trim of a stream_ordered_resource", failure);
    return 0;
  }
}

}  // namespace vmm_pmr::detail
