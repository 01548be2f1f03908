// The mechanism behind stream_ordered_resource: one reservation, chunks mapped into it
// on demand, blocks suballocated from them and recycled per stream.
//
// Where a request is served from, in order (see allocate_from_cache):
//   1. the stream's exact-size cache (the hot path: a pop, no driver call);
//   2. the stream's own free list (best fit, after merging its cache in);
//   3. settled blocks (freed on a stream whose work is known to be done);
//   4. blocks of another stream A that this stream already waited for (no new call);
//   5. blocks of A whose freeing has completed: an event recorded on A after the free,
//      found complete, settles them;
//   6. a block of A after making this stream wait for that event (cuStreamWaitEvent);
//   7. a new chunk (growth), mapped outside the lock; with a footprint limit, an idle alias
//      range first, and past the limit a new alias range of free chunks mapped again
//      where the request goes (bounded_growth.cpp, alias_ranges.cpp);
//   8. trim (waiting for the streams that freed into free chunks), then 1-7 once more.
// Steps 4-6 are skipped when this stream or A is capturing a graph.
//
// Invariants, under the lock:
//   - the blocks tile the mapped chunks, plus the alias ranges in use (one block each):
//     mapped = live + cached, where a chunk lent to a range counts through the range's
//     block (alias_range.hpp);
//   - a free block is in exactly one list: its stream's cache or free list, or the
//     settled list when its stream is null; reserved, lent and live blocks are in none,
//     and so are the blocks of alias ranges, which only the exact-size caches hold;
//   - two adjacent free blocks of one list are merged, except in the exact-size caches;
//   - a block freed on A reaches another stream only through steps 3-6;
//   - a free block with a stream is never unmapped: trim settles it first, by waiting
//     for an event recorded on its stream after it was freed; an alias range is unmapped
//     only once the work of its last user is known complete.
// Driver calls for growth and release run without the lock: the address range (and the
// free block before it, when the request extends one) is set aside under the lock
// first; a bounded pool's growth sets aside its window's free blocks (reserved) and its
// holes, and a new alias range its addresses and the chunks it lends. Event calls
// (record, query, wait) are short and run under it; waiting for an event (trim, settle)
// never does. The lock is a spin lock (spin_lock.hpp): the hot path holds it for tens of
// nanoseconds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory_resource>
#include <mutex>  // std::unique_lock, std::lock_guard
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "stream_ordered/pool/address_space.hpp"
#include "stream_ordered/pool/alias_range.hpp"
#include "stream_ordered/pool/block.hpp"
#include "stream_ordered/pool/free_lists.hpp"
#include "stream_ordered/pool/node_pool.hpp"
#include "stream_ordered/pool/spin_lock.hpp"
#include "vmm_pmr/backend/backend.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/core/stream_view.hpp"
#include "vmm_pmr/handles/address_range.hpp"
#include "vmm_pmr/handles/event.hpp"
#include "vmm_pmr/handles/vmm_allocation.hpp"
#include "vmm_pmr/registry/mapping_registry.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_stats.hpp"

namespace vmm_pmr::detail {

// What the pool knows about one stream. Created on the stream's first use and kept
// until the pool dies, so pointers to it stay valid across unlocked driver calls.
struct stream_state {
  stream_state(stream_view stream, std::pmr::memory_resource* memory)
      : stream(stream), waited_for(memory) {
    usage.stream = stream;
  }

  std::size_t cached_bytes() const noexcept { return free_blocks.bytes() + recent.bytes(); }
  bool has_free_blocks() const noexcept { return !free_blocks.empty() || !recent.empty(); }
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
};

struct pool_settings {
  physical_properties properties;
  std::vector<access_grant> access;
  std::size_t granularity = 0;
  std::size_t reservation_size = 0;
  std::size_t reservation_alignment = 0;
  std::size_t min_chunk_size = 0;
  std::size_t max_chunk_size = 0;
  std::optional<std::size_t> release_threshold;
  std::optional<double> footprint_limit;  // chunks are then all min_chunk_size, and alias
                                          // ranges are made past the limit
};

// Why a deallocate() was refused.
enum class bad_free : std::uint8_t {
  none,
  unknown_pointer,    // not in this resource's reservation
  double_free,        // the start of a free block
  interior_pointer,   // inside a live block, not its start
  inside_free_block,  // inside free memory: a double free of a block since merged
  unmapped_pointer,   // in the reservation, where nothing is mapped (its chunk was released)
  wrong_size,         // the start of a live block, with another size: the block stays live
};

struct free_outcome {
  bad_free problem = bad_free::none;
  address block_base = 0;           // the block involved, if any
  std::size_t block_requested = 0;  // its requested bytes, when live
};

// Ranges of the reservation: (base, size).
using address_list = std::pmr::vector<std::pair<address, std::size_t>>;

struct leaked_block {
  address base = 0;
  std::size_t requested = 0;
  std::size_t size = 0;
};

class stream_ordered_pool {
 public:
  // Reserves the address range. `owner` names the chunks in `registry`.
  stream_ordered_pool(backend& driver, mapping_registry& registry, const void* owner,
                      pool_settings settings);
  stream_ordered_pool(const stream_ordered_pool&) = delete;
  stream_ordered_pool& operator=(const stream_ordered_pool&) = delete;
  ~stream_ordered_pool();

  // `block_size` is `bytes` rounded to its block size; `alignment` ≥ 256. Throws
  // out_of_memory (whose what() is the bare reason), driver_error from growth.
  void* allocate(std::size_t bytes, std::size_t block_size, std::size_t alignment,
                 stream_view stream);
  // Never throws for bad input: the outcome says what was wrong.
  free_outcome deallocate(void* pointer, std::size_t bytes, stream_view stream);

  std::size_t trim(std::size_t bytes_to_keep);
  void settle(stream_view stream);

  // Waits for the streams with free blocks, unmaps and releases every chunk, and returns
  // the blocks still live. The pool is unusable afterwards.
  std::vector<leaked_block> shut_down();

  stream_ordered_stats stats() const;
  std::vector<stream_usage> stream_stats() const;

  // The first invariant (above, and in alias_range.hpp and address_space.hpp) that does not
  // hold, or an empty string. Walks every structure: for tests, with no call in progress.
  std::string check_invariants() const;

 private:
  friend class invariant_checker;  // pool_invariants.cpp

  struct growth_plan {
    address chunk_base = 0;
    std::size_t chunk_size = 0;
    block* extended = nullptr;  // the free block right before the chunk the request extends
  };
  struct pending_wait {
    stream_state* stream;
    std::uint64_t covers;
  };

  // Most calls name the stream the previous call named.
  stream_state& state_of(stream_view stream) {
    if (last_stream_ != nullptr && last_stream_->stream == stream) [[likely]]
      return *last_stream_;
    return find_or_add_state(stream);
  }
  stream_state& find_or_add_state(stream_view stream);
  free_list& list_of(stream_state* stream) noexcept {
    return stream == nullptr ? settled_ : stream->free_blocks;
  }

  block* allocate_from_cache(stream_state& stream, std::size_t block_size, std::size_t alignment);
  block* take_from_other_streams(stream_state& stream, std::size_t block_size,
                                 std::size_t alignment);
  void* allocate_by_growing(std::unique_lock<spin_lock>& lock, stream_state& stream,
                            std::size_t bytes, std::size_t block_size, std::size_t alignment);
  growth_plan plan_growth(const stream_state& stream, std::size_t block_size,
                          std::size_t alignment);
  std::size_t preferred_chunk_size() const noexcept;
  // What growth throws when no range of the reservation holds the request.
  out_of_memory no_room_for(std::size_t block_size, std::size_t alignment) const;
  void map_chunk(address base, std::size_t size);
  void register_chunk(mapped_chunk chunk);

  // ---- a bounded footprint (settings_.footprint_limit): bounded_growth.cpp ----
  // Where a request goes when no free block holds it: a window over free blocks it may use
  // and holes, touching the chunk-aligned range [first_slot, end_slot), of which `missing`
  // chunks are holes to map.
  struct window_plan {
    address start = 0;
    address first_slot = 0;
    address end_slot = 0;
    std::size_t missing = 0;
  };
  bool bounded() const noexcept { return settings_.footprint_limit.has_value(); }
  // The mapped bytes allowed after serving a request of `bytes`, rounded up to a chunk.
  std::size_t footprint_budget(std::size_t bytes) const noexcept;
  // The window with the fewest missing chunks (the lowest among equals), or nullopt.
  std::optional<window_plan> plan_window(const stream_state& stream, std::size_t block_size,
                                         std::size_t alignment);
  // A request no free block holds: an idle alias range, new chunks within the limit, or a
  // new alias range past it (whichever maps the least new memory).
  void* allocate_bounded(std::unique_lock<spin_lock>& lock, stream_state& stream, std::size_t bytes,
                         std::size_t block_size, std::size_t alignment);
  // Maps new chunks into the window's holes and carves the request out of the window.
  void* grow_into_window(std::unique_lock<spin_lock>& lock, stream_state& stream, std::size_t bytes,
                         std::size_t block_size, const window_plan& plan);

  // ---- alias ranges: alias_ranges.cpp ----
  // The chunks a block of `block_size` bytes takes in an alias range.
  std::size_t chunks_for(std::size_t block_size) const noexcept;
  // A chunk whole in a free block `stream` may use: where it is and that block.
  struct usable_chunk {
    address home;
    block* holder;
  };
  // Every such chunk, in address order: one pass over the blocks.
  std::pmr::vector<usable_chunk> usable_chunks(const stream_state& stream);
  // An idle range of exactly the request's chunks, all usable by `stream`, now in use by
  // the returned (reserved) block; null when there is none. No driver call.
  block* take_idle_alias_range(stream_state& stream, std::size_t block_size, std::size_t alignment);
  // Up to `wanted` usable chunks for a new range, those of the smallest free blocks first
  // (they serve the fewest requests), the highest among equals.
  std::pmr::vector<usable_chunk> chunks_to_borrow(const stream_state& stream, std::size_t wanted);
  // The highest slot of the chunk grid (min_chunk_size apart from the reservation's base)
  // in the hole [hole_base, hole_base + hole_size) where `bytes` fit at `alignment`.
  std::optional<address> highest_slot_in(address hole_base, std::size_t hole_size,
                                         std::size_t bytes, std::size_t alignment) const noexcept;
  // Maps the `borrowed` chunks and `fresh` new ones (mapped in the pool's chunks first)
  // back to back in a new range, and hands it out. Null when no hole of the reservation
  // holds it.
  void* allocate_in_new_alias_range(std::unique_lock<spin_lock>& lock, stream_state& stream,
                                    std::size_t bytes, std::size_t alignment,
                                    std::pmr::vector<usable_chunk> borrowed, std::size_t fresh);
  // Cuts each chunk out of the free block that holds it and marks it lent. The highest
  // first: cutting a chunk out of a block keeps the block object for the part below it,
  // so the holders of lower chunks stay valid.
  void lend_chunks(std::pmr::vector<usable_chunk>& chunks);
  // The block of a range in use, freed on `stream`: its chunks become free at their homes.
  void return_alias_range(block& user, stream_state* stream);
  // Whether the work of an idle range's last user is known complete (it may record and
  // query an event, never wait).
  bool alias_range_done(const alias_range& range);
  // Takes the idle range out of aliases_ for unmapping, into `retiring`.
  void retire(std::pmr::list<alias_range>::iterator range, address_list& retiring);
  // Before a new range of `range_bytes`: retires idle ranges whose last user's work is
  // done, the least recently used first, while the ranges would map more than their
  // share of the pool's memory or no hole holds the range. Unmaps without the lock.
  void make_room_for_alias_range(std::unique_lock<spin_lock>& lock, std::size_t range_bytes);
  // Unmaps the ranges in `retiring` (taken out of aliases_ already) and the chunks in
  // `releasing` (cut out already), without the lock, and gives their addresses back.
  void unmap_retired(std::unique_lock<spin_lock>& lock, address_list& retiring,
                     address_list& releasing);

  // Takes [placement, placement + size) out of free block `b` (in its list); the rest
  // stays free with b's stream. Returns the live block, not yet handed out.
  block& carve(block& b, std::size_t block_size, std::size_t alignment);
  void hand_out(block& b, stream_state& stream, std::size_t bytes) noexcept;
  // Puts a free block (in no list) into `stream`'s free list (null: settled), merged
  // with adjacent free blocks of that list.
  void release_into(block& b, stream_state* stream);
  void flush_cache(stream_state& stream);
  void flush_all_caches();

  // Records `stream`'s event after its latest free unless it already covers it.
  void record_frees(stream_state& stream);
  // Moves `stream`'s free blocks numbered up to `covers` to the settled list.
  void settle_covered(stream_state& stream, std::uint64_t covers);
  // Records and queries the events of streams with free blocks; settles what completed.
  void settle_completed_streams();
  const stream_state* capturing_stream();

  bool chunk_is_free(address base, std::size_t size, bool settled_only);
  void cut_out_chunk(address base, std::size_t size);
  // Releases settled free chunks, highest first, while more than `bytes_to_keep` stay
  // cached. Unmaps without the lock.
  std::size_t release_free_chunks(std::unique_lock<spin_lock>& lock, std::size_t bytes_to_keep);
  std::size_t trim_without_waiting() noexcept;

  free_outcome diagnose_bad_free(address at, const block* found);

  backend& driver_;
  mapping_registry& registry_;
  const void* owner_;
  const pool_settings settings_;
  address_range reservation_;  // declared first: freed after everything mapped into it

  mutable spin_lock lock_;
  // Every container below allocates its nodes here, under the lock.
  node_pool bookkeeping_;
  address_space space_;
  block_map blocks_;
  free_list settled_;
  std::pmr::list<stream_state> streams_;
  std::pmr::unordered_map<std::uintptr_t, stream_state*> stream_index_;
  stream_state* last_stream_ = nullptr;
  std::uint64_t free_sequence_ = 0;
  std::pmr::list<alias_range> aliases_;  // most recently used first
  std::size_t alias_bytes_ = 0;          // mapped by the alias ranges
  std::size_t auto_trim_trigger_ = 0;    // cached bytes that start the next automatic trim
  std::uint32_t frees_since_auto_trim_ = 0;
  stream_ordered_stats stats_;
};

}  // namespace vmm_pmr::detail
