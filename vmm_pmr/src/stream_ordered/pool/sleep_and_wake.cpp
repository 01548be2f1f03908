// Sleep and wake: the pool gives its physical memory back to the driver while every address
// stays reserved and every block stays where it is, then maps new memory at the same
// addresses. VMM makes this natural: a reservation outlives the memory mapped into it.
//
// sleep() waits for the device (unmapping is not stream-ordered, so no queued work may use
// what goes), makes every free block ownerless, releases the chunks without a live block as
// trim does, copies out the contents of the others when asked to keep them, and unmaps
// them (contents go to page-locked host memory, which the device copies to at full speed).
// Asleep, allocate() throws and no block enters an exact-size cache (the hot path
// would hand it out unchecked); frees change the bookkeeping only. wake() gives new memory,
// access and contents to the chunks that still hold a live block; the others are cut out,
// their addresses holes again.
//
// Invariant, under the lock and outside a transition: asleep_ ⇔ every chunk of space_ is in
// sleeping_, and none of them is in the registry. A failed wake() leaves the pool asleep
// with nothing mapped; a failed copy-out leaves it awake. sleep() and wake() run one at a
// time (transition_); the hooks run inside it, without the pool's lock.
#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <new>
#include <thread>

#include "stream_ordered/pool/stream_ordered_pool.hpp"
#include "vmm_pmr/core/byte_size.hpp"
#include "vmm_pmr/core/error.hpp"

namespace vmm_pmr::detail {
namespace {

std::size_t total_bytes(const std::vector<stream_ordered_pool::sleeping_chunk>& chunks) {
  std::size_t bytes = 0;
  for (const auto& chunk : chunks) bytes += chunk.size;
  return bytes;
}

}  // namespace

bool stream_ordered_pool::asleep() const {
  std::lock_guard lock(lock_);
  return asleep_;
}

void stream_ordered_pool::settle_everything(std::uint64_t covers) {
  for (stream_state& stream : streams_) make_ownerless(stream, covers);
  make_ownerless(orphans_, covers);
  for (alias_range& range : aliases_) {
    if (range.last_free_sequence <= covers) range.last_stream = nullptr;
  }
}

std::size_t stream_ordered_pool::sleep(bool keep_contents,
                                       const std::function<void()>& before_sleep) {
  std::lock_guard transition(transition_);
  if (asleep()) return 0;
  if (before_sleep) before_sleep();
  std::unique_lock lock(lock_);
  if (const stream_state* capturing = capturing_stream()) {
    throw error(fmt::format(
        "stream_ordered_resource::sleep(): {} is capturing a CUDA graph; memory cannot be "
        "unmapped during a capture (end the capture first)",
        to_string(capturing->stream)));
  }
  if (std::any_of(aliases_.begin(), aliases_.end(),
                  [](const alias_range& range) { return range.user != nullptr; })) {
    throw unsupported_error(
        "stream_ordered_resource::sleep(): a block that a footprint_limit alias range serves "
        "is allocated or cached, and sleeping with one is not supported: free it (and trim) "
        "first, or leave footprint_limit unset for memory that sleeps");
  }
  asleep_ = true;  // allocate() throws from here on: nothing new lands in what goes
  // A growth that began before may still be mapping its chunk: its chunk must be listed.
  while (growths_in_flight_ != 0) {
    lock.unlock();
    std::this_thread::yield();
    lock.lock();
  }
  flush_all_caches();
  const std::uint64_t covers = free_sequence_;
  lock.unlock();
  try {
    driver_.synchronize_device();
  } catch (...) {
    lock.lock();
    asleep_ = false;
    throw;
  }
  lock.lock();
  ++stats_.device_synchronizations;
  settle_everything(covers);
  retire_done_alias_ranges(lock);
  const std::size_t released = release_free_chunks(lock, 0);
  sleeping_ = release_chunks_for_sleep(lock, keep_contents);
  return released + total_bytes(sleeping_);
}

std::vector<stream_ordered_pool::sleeping_chunk> stream_ordered_pool::release_chunks_for_sleep(
    std::unique_lock<spin_lock>& lock, bool keep_contents) {
  std::vector<sleeping_chunk> chunks;
  for (const auto& [base, size] : space_.chunks()) chunks.push_back({base, size, {}});
  lock.unlock();
  if (keep_contents) {
    std::size_t kept = 0;
    try {
      for (sleeping_chunk& chunk : chunks) {
        chunk.contents = pinned_host_memory(driver_, chunk.size);
        driver_.copy_to_host(chunk.contents.data(), chunk.base, chunk.size);
        kept += chunk.size;
      }
    } catch (const std::bad_alloc& failure) {
      lock.lock();
      asleep_ = false;
      throw out_of_memory(fmt::format(
          "stream_ordered_resource::sleep(): no host memory to keep the contents ({} kept of "
          "{}: {}); the resource stays awake (its free chunks were released)",
          format_bytes(kept), format_bytes(total_bytes(chunks)), failure.what()));
    } catch (...) {
      lock.lock();
      asleep_ = false;
      throw;
    }
  }
  // Dropping the registry's entry unmaps the chunk and releases its memory; a failure is
  // reported as a cleanup error.
  for (const sleeping_chunk& chunk : chunks) {
    registry_.remove(owner_, reinterpret_cast<void*>(chunk.base), chunk.size).allocation =
        vmm_allocation();
  }
  lock.lock();
  return chunks;
}

void stream_ordered_pool::wake(const std::function<void()>& after_wake) {
  std::lock_guard transition(transition_);
  {
    std::unique_lock lock(lock_);
    if (!asleep_) return;
    wake_under_lock(lock);
  }
  if (after_wake) after_wake();
}

void stream_ordered_pool::wake_under_lock(std::unique_lock<spin_lock>& lock) {
  // What was freed while asleep had no memory for any work to use.
  settle_everything(free_sequence_);
  std::vector<sleeping_chunk> restoring;
  for (sleeping_chunk& chunk : sleeping_) {
    if (chunk_is_free(chunk.base, chunk.size, true)) {
      cut_out_chunk(chunk.base, chunk.size);
      space_.give_back(chunk.base, chunk.size);
    } else {
      restoring.push_back(std::move(chunk));
    }
  }
  sleeping_.clear();
  try {
    restore_chunks(lock, restoring);
  } catch (...) {
    sleeping_ = std::move(restoring);
    throw;
  }
  asleep_ = false;
}

void stream_ordered_pool::restore_chunks(std::unique_lock<spin_lock>& lock,
                                         std::vector<sleeping_chunk>& chunks) {
  lock.unlock();
  registered_chunks registered;
  std::size_t mapped = 0;
  try {
    for (const sleeping_chunk& chunk : chunks) {
      std::vector<mapped_chunk> built;
      built.push_back(build_chunk(chunk.base, chunk.size));
      driver_.set_access(chunk.base, chunk.size, settings_.access);
      register_chunks(built, registered);
      if (chunk.contents) driver_.copy_from_host(chunk.base, chunk.contents.data(), chunk.size);
      mapped += chunk.size;
    }
  } catch (const out_of_memory& failure) {
    unregister_chunks(registered);
    lock.lock();
    throw out_of_memory(fmt::format(
        "stream_ordered_resource::wake(): out of memory after {} of the {} its live blocks "
        "need ({}); everything stays asleep: free device memory and call wake() again",
        format_bytes(mapped), format_bytes(total_bytes(chunks)), failure.what()));
  } catch (...) {
    unregister_chunks(registered);
    lock.lock();
    throw;
  }
  lock.lock();
}

}  // namespace vmm_pmr::detail
