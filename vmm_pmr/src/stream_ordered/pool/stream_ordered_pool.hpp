// The mechanism behind stream_ordered_resource: one reservation, chunks mapped into it
// on demand, blocks suballocated from them and recycled per stream.
//
// Where a request is served from, in order (allocate_from_free_blocks, free_block_reuse.cpp):
//   1. the stream's exact-size cache (the hot path: a pop, no driver call);
//   2. the stream's own free list (best fit, after merging its cache in);
//   3. ownerless blocks (freed on a stream whose work is known to be done);
//   4. blocks of another stream A that this stream already waited for (no new call);
//   5. blocks of A whose freeing has completed: an event recorded on A after the free,
//      found complete, makes them ownerless;
//   6. a block of A after making this stream wait for that event (cuStreamWaitEvent);
//   7. a new chunk (growth: growth_protocol.hpp, unbounded_growth.cpp), mapped outside the
//      lock; with a footprint limit, an idle alias range first, and past the limit a new
//      alias range of free chunks mapped again where the request goes (bounded_growth.cpp,
//      alias_ranges.cpp);
//   8. trim (waiting for the streams that freed into free chunks; trim.cpp), then 1-7 once
//      more.
// Steps 4-6 are skipped when this stream or A is capturing a graph. Before 7, the blocks of
// streams the user destroyed are taken back once they could serve the request
// (destroyed_streams.cpp).
//
// Words: "reserved" is only the VMM address reservation; a free block "of a stream" may
// still be used by that stream's queued work, an "ownerless" one by no stream's; "waiting
// for a stream" means waiting for an event recorded on it (stream_waits.cpp).
//
// Invariants, under the lock:
//   - the blocks tile the mapped chunks, plus the alias ranges in use (one block each):
//     mapped = live + cached, where a chunk lent to a range counts through the range's
//     block (alias_range.hpp);
//   - a free block is in exactly one list: its stream's cache or free list, or the
//     ownerless list when its stream is null; set-aside, lent and live blocks are in none,
//     and so are the blocks of alias ranges, which only the exact-size caches hold;
//   - two adjacent free blocks of one list are merged, except in the exact-size caches;
//   - a block freed on A reaches another stream only through steps 3-6;
//   - a free block with a stream is never unmapped: trim makes it ownerless first, by
//     waiting for an event recorded on its stream after it was freed; an alias range is
//     unmapped only once the work of its last user is known complete.
// Driver calls for growth and release run without the lock, after what they use is set
// aside under it (growth_protocol.hpp). Event calls (record, query, wait) are short and run
// under it; waiting for an event (trim, wait_for_stream) never does. The lock is a spin lock
// (spin_lock.hpp): the hot path holds it for tens of nanoseconds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
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
#include "stream_ordered/pool/stream_state.hpp"
#include "stream_ordered/pool/window.hpp"
#include "vmm_pmr/backend/backend.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/core/stream_view.hpp"
#include "vmm_pmr/handles/address_range.hpp"
#include "vmm_pmr/handles/event.hpp"
#include "vmm_pmr/handles/pinned_host_memory.hpp"
#include "vmm_pmr/handles/vmm_allocation.hpp"
#include "vmm_pmr/registry/mapping_registry.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_stats.hpp"

namespace vmm_pmr::detail {

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

// What allocate() throws while the pool is asleep; the resource says what was asked.
class pool_asleep : public error {
 public:
  pool_asleep() : error("the resource is asleep (sleep() gave its memory back): wake() it first") {}
};

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
  // Frees the live block starting at `pointer` on the stream that allocated it, whatever
  // its size: the block index finds it by base address.
  free_outcome deallocate_by_pointer(void* pointer);
  bool in_reservation(const void* pointer) const noexcept {
    const auto at = reinterpret_cast<address>(pointer);
    return at >= reservation_.base() && at - reservation_.base() < reservation_.size();
  }
  // The requested bytes and allocating stream of the live block starting at `pointer`.
  std::optional<std::pair<std::size_t, stream_view>> live_block_at(const void* pointer) const;

  std::size_t trim(std::size_t bytes_to_keep);
  // Waits for the work queued on `stream` before its frees; its free blocks become
  // ownerless.
  void wait_for_stream(stream_view stream);

  // Sleep and wake (sleep_and_wake.cpp): after waiting for the device, releases the
  // physical memory of every chunk, keeping its addresses and blocks (with `keep_contents`,
  // the contents of chunks holding live blocks are copied to host memory first); returns
  // the bytes released. Asleep, allocate() throws error and frees only change bookkeeping.
  // wake() maps new memory at the same addresses for the chunks that still hold live blocks
  // and restores kept contents; if that fails, the pool stays asleep as it was. Both do
  // nothing when the pool already is in the state asked for.
  // `before_sleep` runs first, unless the pool is asleep already (what it throws stops the
  // sleep); `after_wake` runs last, unless the pool was awake. One transition at a time.
  std::size_t sleep(bool keep_contents, const std::function<void()>& before_sleep);
  void wake(const std::function<void()>& after_wake);
  bool asleep() const;
  struct sleeping_chunk {
    address base = 0;
    std::size_t size = 0;
    pinned_host_memory contents;  // empty: discarded
  };

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

  // A stream to wait for, and the frees its event's record covers.
  struct pending_wait {
    stream_state* stream;
    std::uint64_t covers;
  };
  // Chunks a growth registered (base, size): unregistered again if it fails.
  using registered_chunks = std::vector<std::pair<address, std::size_t>>;

  // ---- entry points and lifetime: stream_ordered_pool.cpp ----
  // Most calls name the stream the previous call named. A handle the driver knows no stream
  // by gives orphans_.
  stream_state& state_of(stream_view stream) {
    if (last_stream_ != nullptr && last_stream_->stream == stream) [[likely]]
      return *last_stream_;
    return find_or_add_state(stream);
  }
  stream_state& find_or_add_state(stream_view stream);
  void hand_out(block& b, stream_state& stream, std::size_t bytes) noexcept;
  // Counts the free of live block `b` on `freeing` and numbers it.
  void count_free(block& b, stream_state& freeing) noexcept;
  // Frees live block `b` on `freeing` (under the lock); whether an automatic trim is due.
  bool free_live_block(block& b, stream_state& freeing);
  // The streams whose frees shut_down() waits for before unmapping.
  std::pmr::vector<stream_state*> streams_to_wait_for_at_shutdown();
  free_outcome diagnose_bad_free(address at, const block* found);  // bad_free.cpp

  // ---- reuse of free blocks: free_block_reuse.cpp ----
  // Steps 2-6 of the order above; null when none serves the request.
  block* allocate_from_free_blocks(stream_state& stream, std::size_t block_size,
                                   std::size_t alignment);
  block* take_from_other_streams(stream_state& stream, std::size_t block_size,
                                 std::size_t alignment);
  // The other streams holding free blocks, when together they hold at least `block_size`.
  std::pmr::vector<stream_state*> donors_for(const stream_state& stream, std::size_t block_size);
  block* take_already_waited_for(stream_state& stream,
                                 const std::pmr::vector<stream_state*>& donors,
                                 std::size_t block_size, std::size_t alignment);
  // Makes the donors' completed frees ownerless; returns the donors still pending.
  std::pmr::vector<stream_state*> free_completed_donations(
      const std::pmr::vector<stream_state*>& donors);
  block* take_after_wait(stream_state& stream, const std::pmr::vector<stream_state*>& pending,
                         std::size_t block_size, std::size_t alignment);
  // Takes [placement, placement + size) out of free block `b` (in its list); the rest
  // stays free with b's stream. Returns the live block, not yet handed out.
  block& carve(block& b, std::size_t block_size, std::size_t alignment);

  // ---- free-list bookkeeping: free_list_bookkeeping.cpp ----
  free_list& list_of(stream_state* stream) noexcept {
    return stream == nullptr ? ownerless_ : stream->free_blocks;
  }
  // Puts a free block (in no list) into `stream`'s free list (null: the ownerless one),
  // merged with adjacent free blocks of that list.
  void release_into(block& b, stream_state* stream);
  void flush_cache(stream_state& stream);
  void flush_all_caches();

  // ---- waiting for streams: stream_waits.cpp ----
  // Records `stream`'s event after its latest free unless it already covers it.
  void record_frees(stream_state& stream);
  // Whether the work before the latest record of `stream`'s event (recorded) is done:
  // queries the event until it says so once.
  bool stream_is_done(stream_state& stream);
  // Moves `stream`'s free blocks numbered up to `covers` to the ownerless list.
  void make_ownerless(stream_state& stream, std::uint64_t covers);
  // Records and queries the events of streams with free blocks; makes what completed
  // ownerless. Never waits.
  void free_completed_streams();
  const stream_state* capturing_stream();
  // Waits for each stream's record without the lock, then makes what it covers ownerless.
  void wait_without_lock(std::unique_lock<spin_lock>& lock,
                         const std::pmr::vector<pending_wait>& waits);
  // After waiting for `stream`'s record covering `covers`: what it covers is ownerless.
  void after_wait(stream_state& stream, std::uint64_t covers);
  // Adds `stream` to `waits`, recording its event, unless it is there already.
  void add_wait(std::pmr::vector<pending_wait>& waits, stream_state& stream);

  // ---- streams the user destroyed: destroyed_streams.cpp ----
  // A state for `stream`, met for the first time: orphans_ when the driver knows no stream
  // by that handle.
  stream_state& add_state(stream_view stream);
  // Whether the stream of `state` was destroyed, or its handle now names another stream (asks
  // the driver). A gone stream is forgotten.
  bool stream_is_gone(stream_state& state);
  // The caller's state for `stream`, checked with the driver before a slow path: a new state
  // when the handle now names another stream; invalid_argument when it names none.
  stream_state& live_caller_state(stream_state& state, stream_view stream);
  // Hands what `state` holds to orphans_ (free blocks, live blocks it allocated, alias ranges
  // it used last), takes its handle out of the index and keeps the state for reuse.
  void forget_stream(stream_state& state);
  bool orphans_hold_memory() const noexcept;
  // Waits for the whole device without the lock, then makes what the orphans held before
  // the wait ownerless. Whether they held anything.
  bool reclaim_orphans(std::unique_lock<spin_lock>& lock);

  // ---- sleep and wake: sleep_and_wake.cpp ----
  void wake_under_lock(std::unique_lock<spin_lock>& lock);
  // Makes every free block ownerless: after a wait for the device, no work uses them.
  void settle_everything(std::uint64_t covers);
  // Copies out (when `keep_contents`) and unmaps the chunks, without the lock.
  std::vector<sleeping_chunk> release_chunks_for_sleep(std::unique_lock<spin_lock>& lock,
                                                       bool keep_contents);
  // Maps new memory for `chunks` and restores their contents, without the lock; on failure,
  // unmaps what it mapped and throws.
  void restore_chunks(std::unique_lock<spin_lock>& lock, std::vector<sleeping_chunk>& chunks);

  // ---- the growth protocol: growth_protocol.hpp, growth_protocol.cpp ----
  template <typename MapChunks, typename GiveBack>
  void map_without_lock(std::unique_lock<spin_lock>& lock, MapChunks&& map_chunks,
                        GiveBack&& give_back);
  // Physical memory of `size` bytes mapped at `base` (access not yet granted).
  mapped_chunk build_chunk(address base, std::size_t size);
  // Hands the chunks to the registry, noting each in `registered`.
  void register_chunks(std::vector<mapped_chunk>& built, registered_chunks& registered);
  void unregister_chunks(const registered_chunks& registered) noexcept;
  // A chunk the growth mapped, as one block in `state` with no stream.
  block& add_mapped_chunk(address base, std::size_t size, block_state state);
  // The statistics of a growth that mapped `chunks` new chunks of `bytes` in all.
  void count_growth(std::size_t chunks, std::size_t bytes) noexcept;
  // Cuts [start, start + block_size) out of `region` (set aside, in no list), frees what
  // lies before it with region's stream, and what lies after it with region's stream or,
  // when `rest_is_fresh`, ownerless as never used; hands the request out.
  void* hand_out_from(block& region, address start, std::size_t block_size, stream_state& stream,
                      std::size_t bytes, bool rest_is_fresh);
  // What growth throws when no range of the reservation holds the request.
  out_of_memory no_room_for(std::size_t block_size, std::size_t alignment) const;

  // ---- growth without a footprint limit: unbounded_growth.cpp ----
  struct growth_plan {
    address chunk_base = 0;
    std::size_t chunk_size = 0;
    block* extended = nullptr;  // the free block right before the chunk the request extends
  };
  void* allocate_by_growing(std::unique_lock<spin_lock>& lock, stream_state& stream,
                            std::size_t bytes, std::size_t block_size, std::size_t alignment);
  growth_plan plan_growth(const stream_state& stream, std::size_t block_size,
                          std::size_t alignment);
  // The free block of `stream` (or ownerless) ending at `hole_base` that a request at
  // `alignment` may extend into the hole, and where the request would start in it.
  std::pair<block*, address> extendable_before(address hole_base, const stream_state& stream,
                                               std::size_t alignment);
  std::size_t preferred_chunk_size() const noexcept;

  // ---- a bounded footprint (settings_.footprint_limit): bounded_growth.cpp ----
  bool bounded() const noexcept { return settings_.footprint_limit.has_value(); }
  // The mapped bytes allowed after serving a request of `bytes`, rounded up to a chunk.
  std::size_t footprint_budget(std::size_t bytes) const noexcept;
  // Holes and free blocks `stream` may use, in address order.
  std::pmr::vector<window_segment> window_segments(const stream_state& stream);
  // The window with the fewest missing chunks (the lowest among equals), or nullopt.
  std::optional<window_plan> plan_window(const stream_state& stream, std::size_t block_size,
                                         std::size_t alignment);
  // A request no free block holds: an idle alias range, new chunks within the limit, or a
  // new alias range past it (whichever maps the least new memory).
  void* allocate_bounded(std::unique_lock<spin_lock>& lock, stream_state& stream, std::size_t bytes,
                         std::size_t block_size, std::size_t alignment);
  // Past the limit (`budget`, the footprint_budget() of the request): after freeing what
  // completed work freed, a new alias range when it maps less than the window.
  void* allocate_past_limit(std::unique_lock<spin_lock>& lock, stream_state& stream,
                            std::size_t bytes, std::size_t block_size, std::size_t alignment,
                            std::size_t budget);
  // An idle alias range handed out for the request, or null.
  void* allocate_from_idle_alias_range(stream_state& stream, std::size_t bytes,
                                       std::size_t block_size, std::size_t alignment);
  // Maps new chunks into the window's holes and carves the request out of the window.
  void* grow_into_window(std::unique_lock<spin_lock>& lock, stream_state& stream, std::size_t bytes,
                         std::size_t block_size, const window_plan& plan);
  // What a window's growth set aside: its free blocks (cut to the window, state set_aside)
  // and the chunk slots of its holes (taken out of the holes).
  struct window_set_aside {
    std::pmr::vector<block*> blocks;
    std::pmr::vector<address> slots;
    bool had_stream = false;  // a block was of the requesting stream
    std::uint64_t newest_free = 0;
  };
  window_set_aside set_aside_window(const stream_state& stream, address start, address end,
                                    const window_plan& plan);
  void map_window_chunks(const std::pmr::vector<address>& slots, registered_chunks& registered);
  // One block over the window's blocks and new chunks (the whole of both).
  block& join_window(const window_set_aside& window, address start, address end,
                     stream_state& stream);

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
  // the returned (set-aside) block; null when there is none. No driver call.
  block* take_idle_alias_range(stream_state& stream, std::size_t block_size, std::size_t alignment);
  // The block using `range`, now in use: first in the list (most recently used).
  block& use_alias_range(std::pmr::list<alias_range>::iterator range);
  // Up to `wanted` usable chunks for a new range, those of the smallest free blocks first
  // (they serve the fewest requests), the highest among equals.
  std::pmr::vector<usable_chunk> chunks_to_borrow(const stream_state& stream, std::size_t wanted);
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

  // ---- making an alias range: new_alias_range.cpp ----
  // Where a new range goes and the homes of its new chunks, all taken out of the holes.
  struct alias_placement {
    address base;
    std::pmr::vector<address> fresh_homes;
  };
  // The highest slot of the chunk grid (min_chunk_size apart from the reservation's base)
  // in the hole [hole_base, hole_base + hole_size) where `bytes` fit at `alignment`.
  std::optional<address> highest_slot_in(address hole_base, std::size_t hole_size,
                                         std::size_t bytes, std::size_t alignment) const noexcept;
  // The range in the highest hole that holds it (growth takes the lowest) and `fresh` chunk
  // slots, the lowest, set aside; nullopt (nothing taken) when the holes lack room.
  std::optional<alias_placement> place_alias_range(std::size_t range_bytes, std::size_t alignment,
                                                   std::size_t fresh);
  // The driver's part: the new chunks in the pool's chunks, then every chunk mapped again
  // in the range, access granted once over it, the range registered.
  void map_alias_range(const alias_placement& placement, const std::pmr::vector<address>& homes,
                       std::size_t alignment, registered_chunks& registered);
  // After mapping: the range's new chunks (lent at once) and the range itself, in use by
  // the returned (set-aside) block.
  block& add_alias_range(const alias_placement& placement, std::pmr::vector<address> homes);
  // Maps the `borrowed` chunks and `fresh` new ones (mapped in the pool's chunks first)
  // back to back in a new range, and hands it out. Null when no hole of the reservation
  // holds it.
  void* allocate_in_new_alias_range(std::unique_lock<spin_lock>& lock, stream_state& stream,
                                    std::size_t bytes, std::size_t alignment,
                                    std::pmr::vector<usable_chunk> borrowed, std::size_t fresh);

  // ---- trim: trim.cpp ----
  bool chunk_is_free(address base, std::size_t size, bool ownerless_only);
  void cut_out_chunk(address base, std::size_t size);
  // Releases ownerless free chunks, highest first, while more than `bytes_to_keep` stay
  // cached. Unmaps without the lock.
  std::size_t release_free_chunks(std::unique_lock<spin_lock>& lock, std::size_t bytes_to_keep);
  // Retires the idle ranges that map one of the chunks in `releasing`, into `retiring`.
  void retire_ranges_mapping(const address_list& releasing, address_list& retiring);
  // The streams that freed into otherwise free chunks, and the last users of idle ranges.
  std::pmr::vector<pending_wait> waits_before_trim();
  // Retires and unmaps the idle ranges whose last user's work is done.
  void retire_done_alias_ranges(std::unique_lock<spin_lock>& lock);
  // Unmaps the ranges in `retiring` (taken out of aliases_ already) and the chunks in
  // `releasing` (cut out already), without the lock, and gives their addresses back.
  void unmap_retired(std::unique_lock<spin_lock>& lock, address_list& retiring,
                     address_list& releasing);
  std::size_t trim_without_waiting() noexcept;

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
  free_list ownerless_;
  std::pmr::list<stream_state> streams_;  // the live streams, each in the index
  std::pmr::unordered_map<std::uintptr_t, stream_state*> stream_index_;
  stream_state* last_stream_ = nullptr;  // never orphans_
  // What was freed on, allocated on or last used by streams that are gone: usable only after
  // synchronize_device(). Never in streams_ or the index; nothing is recorded on its stream.
  stream_state orphans_;
  std::pmr::list<stream_state> spare_streams_;  // forgotten states, empty, for new streams
  // Asleep: the chunks without physical memory (all of them), their contents if kept.
  bool asleep_ = false;
  std::size_t growths_in_flight_ = 0;  // mapping without the lock (growth_protocol.hpp)
  std::vector<sleeping_chunk> sleeping_;
  std::mutex transition_;  // one sleep() or wake() at a time
  std::uint64_t free_sequence_ = 0;
  std::pmr::list<alias_range> aliases_;  // most recently used first
  std::size_t alias_bytes_ = 0;          // mapped by the alias ranges
  std::size_t auto_trim_trigger_ = 0;    // cached bytes that start the next automatic trim
  std::uint32_t frees_since_auto_trim_ = 0;
  stream_ordered_stats stats_;
};

}  // namespace vmm_pmr::detail
