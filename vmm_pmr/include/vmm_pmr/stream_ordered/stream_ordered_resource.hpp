// stream_ordered_resource: stream-ordered device memory at allocator speed, over one VMM
// reservation. cudaMallocAsync's semantics, std::pmr's interface, VMM's trimming.
//
//   allocate(bytes, stream)    the memory may be used on `stream` at once (and on other
//                              streams once they are ordered after it)
//   deallocate(p, bytes, stream)  `stream` is the one after whose work so far the memory
//                              may be reused; the call does not wait for it
//   trim(keep)                 unmaps and releases whole free chunks: memory really goes
//                              back to the driver, without copying anything
//
// Mechanism: one large address range is reserved at construction; physical chunks are
// mapped into it on demand at the lowest free address, growing with the memory mapped,
// access granted once per chunk. Blocks are suballocated from the chunks (blocks may span
// chunks: the addresses are contiguous) and recycled through per-stream free lists: a
// stream reuses its own freed blocks at once with no driver call; a block freed on
// another stream is handed over only once that stream's work up to the free has
// completed (an event recorded on it and found complete), or after the allocating
// stream was made to wait for that event. Growing is tried after every free block, and
// trimming (waiting for the streams that freed into the chunks) after growing failed.
// See src/stream_ordered/ for the allocator.
//
// Guarantees:
//   - Memory a stream may still use is never handed to another stream unordered, and
//     never unmapped: trim() waits for the streams that freed into a chunk first.
//   - The hot path (same stream, same size class) makes no driver call and no heap
//     allocation; the lock is held only around bookkeeping, never around growth.
//   - Every mapped chunk is registered in mapping_registry::global() with this resource
//     as its owner, so interior-pointer lookups find the resource for its blocks.
//   - Bad input is handled like vmm_resource's (docs/errors.md): allocate(0) returns a non-null
//     pointer that must not be dereferenced; a bad alignment is invalid_argument; a size
//     that cannot be served is out_of_memory with the request and the statistics;
//     deallocate() never throws, and reports foreign, interior, double and wrong-size
//     frees through vmm_options::on_bad_deallocation (wrong size: the block stays live).
//   - CUDA graphs: capture status is checked off the hot path only. A capturing stream
//     never gives blocks to, or takes blocks from, another stream; nothing is unmapped
//     while any stream known to the resource captures (trim() throws error naming it,
//     automatic trimming waits). Memory a graph uses must stay allocated while the graph
//     may run: frees inside a capture order only the captured work.
//   - A stream may be destroyed while blocks freed on it are cached: they are reused after
//     a wait for the device. Synchronize or settle(stream) before destroying a stream whose
//     queued work still uses memory freed on it (docs/stream_ordered.md says why).
#pragma once

#include <concepts>
#include <cstddef>
#include <functional>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "vmm_pmr/backend/backend.hpp"
#include "vmm_pmr/core/stream_view.hpp"
#include "vmm_pmr/resource/detail/cccl_spellings.hpp"
#include "vmm_pmr/resource/detail/deduced_alignment_calls.hpp"
#include "vmm_pmr/resource/detail/resolved_options.hpp"
#include "vmm_pmr/resource/vmm_options.hpp"
#include "vmm_pmr/stream_ordered/sleep_contents.hpp"
#include "vmm_pmr/stream_ordered/stream_bound_resource.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_options.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_stats.hpp"

namespace vmm_pmr {

namespace detail {
class stream_ordered_pool;
struct free_outcome;
}  // namespace detail

class stream_ordered_resource final
    : public std::pmr::memory_resource,
      public detail::deduced_alignment_calls<stream_ordered_resource>,
      public detail::stream_ordered_spellings<stream_ordered_resource> {
 public:
  // cudaMalloc's alignment; any power of two may be asked for.
  static constexpr std::size_t default_alignment = 256;

  // On the CUDA backend (throws unavailable_error without a usable GPU).
  explicit stream_ordered_resource(stream_ordered_options options = {});
  stream_ordered_resource(std::shared_ptr<backend> backend, stream_ordered_options options = {});

  stream_ordered_resource(const stream_ordered_resource&) = delete;
  stream_ordered_resource& operator=(const stream_ordered_resource&) = delete;
  stream_ordered_resource(stream_ordered_resource&&) = delete;
  stream_ordered_resource& operator=(stream_ordered_resource&&) = delete;
  // Waits for the streams with cached blocks, unmaps everything and reports live
  // allocations through vmm_options::on_leak.
  ~stream_ordered_resource() override;

  // CCCL's cuda::mr spellings (detail/cccl_spellings.hpp; properties in cccl.hpp).
  using stream_ordered_spellings::allocate;
  using stream_ordered_spellings::deallocate;

  void* allocate(std::size_t bytes, stream_view stream, std::size_t alignment = default_alignment);
  void deallocate(void* pointer, std::size_t bytes, stream_view stream,
                  std::size_t alignment = default_alignment) noexcept;
  // Frees `pointer` by address alone, on the stream it was allocated on, whatever its size
  // (for callers that keep neither, like CuPy's allocator hook). A pointer from
  // allocate(0) is accepted; bad pointers are reported like deallocate's.
  void deallocate_by_pointer(void* pointer) noexcept;

  // How the live allocation starting at `pointer` was made; nullopt when none starts there.
  struct live_allocation {
    std::size_t bytes = 0;
    stream_view stream;
  };
  std::optional<live_allocation> allocation_at(const void* pointer) const;
  // Whether `pointer` lies in this resource's reservation: memory it handed out or may.
  // Lock-free: for finding, among several resources, the one to free into.
  bool holds(const void* pointer) const noexcept;

  // The std::pmr interface, on options().stream; allocate(n, {}) is on stream_view{}
  // (detail/deduced_alignment_calls.hpp).
  using deduced_alignment_calls::allocate;
  using deduced_alignment_calls::deallocate;

  // This resource as a std::pmr::memory_resource allocating on `stream`.
  stream_bound_resource on_stream(stream_view stream) noexcept { return {*this, stream}; }

  // Unmaps and releases whole free chunks, highest addresses first, while more than
  // `bytes_to_keep` stay cached; waits for the streams that freed into them first.
  // Returns the bytes released. Throws error while a stream known to the resource is
  // capturing a graph.
  std::size_t trim(std::size_t bytes_to_keep = 0);
  // Waits for `stream`'s work and makes the blocks freed on it reusable by every stream
  // without events. Call it before destroying a stream whose queued work still uses memory
  // freed on it. For a handle that names no stream any more, waits for the device.
  void settle(stream_view stream);

  // Gives every byte of physical memory back to the driver while every address stays
  // reserved: waits for all work on the device first, releases the free chunks, and
  // unmaps the rest after copying their contents to host memory if `contents` is keep.
  // Returns the bytes released. Asleep, allocate throws error; deallocate works. Nothing
  // happens when already asleep. Throws error during a graph capture (nothing changes),
  // unsupported_error while a footprint_limit alias range is in use, out_of_memory when
  // host memory for the contents runs out (the resource then stays awake).
  std::size_t sleep(sleep_contents contents);
  // Run by sleep() before anything else (to deregister buffers from NCCL, say) and by
  // wake() once the memory is back (to register them again, refresh captured graphs), on
  // the calling thread; not by a sleep() or wake() that finds nothing to do. What
  // before_sleep throws stops the sleep with nothing changed; what after_wake throws
  // reaches wake()'s caller with the memory back. Empty functions: none.
  void set_sleep_hooks(std::function<void()> before_sleep, std::function<void()> after_wake);
  // Maps new memory at the same addresses for the live allocations (with the same access)
  // and restores kept contents. Throws out_of_memory when the device cannot hold them,
  // leaving everything asleep, ready for another wake(). Nothing happens when awake.
  void wake();
  bool asleep() const;

  stream_ordered_stats stats() const;
  std::vector<stream_usage> stream_stats() const;
  // Walks the pool's structures and returns the first of its invariants that does not hold
  // (blocks tile the mapped memory, free lists, alias ranges, statistics), or an empty
  // string. It takes time in proportion to the blocks: for tests and debugging, called while
  // no other thread is inside the resource.
  std::string check_invariants() const;

  const stream_ordered_options& options() const noexcept { return options_; }
  stream_view stream() const noexcept { return options_.stream; }
  const device_attributes& device() const noexcept { return resolved_.device; }
  std::size_t granularity() const noexcept { return resolved_.granularity; }
  backend& driver() const noexcept { return *backend_; }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void do_deallocate(void* pointer, std::size_t bytes, std::size_t alignment) override;
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override;
  // Reports a free the pool refused through vmm_options::on_bad_deallocation; `call` is
  // the call as the caller made it.
  void report_refused_free(const detail::free_outcome& outcome, void* pointer, std::size_t bytes,
                           std::size_t alignment, const std::string& call) const noexcept;

  std::shared_ptr<backend> backend_;
  stream_ordered_options options_;
  detail::resolved_options resolved_;
  std::unique_ptr<detail::stream_ordered_pool> pool_;
  std::mutex hooks_mutex_;
  std::function<void()> before_sleep_;
  std::function<void()> after_wake_;
};

}  // namespace vmm_pmr
