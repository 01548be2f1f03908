// The pool's invariants as code: check_invariants() walks every structure and names the
// first invariant that does not hold (the prose is in stream_ordered_pool.hpp,
// alias_range.hpp and address_space.hpp). It costs a pass over the blocks, chunks, lists
// and ranges under the lock, so tests, stress tests and the fuzzer call it between
// operations; the pool never does.
#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "stream_ordered/pool/size_classes.hpp"
#include "stream_ordered/pool/stream_ordered_pool.hpp"

namespace vmm_pmr::detail {
namespace {

const char* state_name(block_state state) {
  switch (state) {
    case block_state::live:
      return "live";
    case block_state::free:
      return "free";
    case block_state::cached:
      return "cached";
    case block_state::set_aside:
      return "set-aside";
    case block_state::lent:
      return "lent";
  }
  return "unknown";
}

std::string describe(const block& b) {
  return fmt::format("{} block [{:#x}, {:#x})", state_name(b.state), b.base, b.end());
}

// A part of the reservation: a hole, a chunk, an alias range or an abandoned range.
struct piece {
  address base;
  std::size_t size;
  const char* kind;
};

}  // namespace

class invariant_checker {
 public:
  explicit invariant_checker(const stream_ordered_pool& pool) : pool_(pool) {}

  std::string run() {
    if (check_address_space() && check_blocks() && check_free_lists() && check_caches() &&
        check_alias_ranges() && check_streams()) {
      check_accounting();
    }
    return std::move(first_violation_);
  }

 private:
  template <typename... Args>
  bool fail(fmt::format_string<Args...> format, Args&&... args) {
    if (first_violation_.empty())
      first_violation_ = fmt::format(format, std::forward<Args>(args)...);
    return false;
  }

  bool on_grid(address at) const {
    return (at - pool_.space_.base()) % pool_.settings_.min_chunk_size == 0;
  }

  // Holes, chunks, alias ranges and abandoned ranges tile the reservation; holes are merged;
  // a bounded pool's chunks are min_chunk_size and everything it maps lies on the grid of
  // min_chunk_size from the reservation's base.
  bool check_address_space() {
    const address_space& space = pool_.space_;
    const std::vector<piece> pieces = reservation_pieces();
    address expected = space.base();
    std::size_t mapped = 0;
    const piece* previous = nullptr;
    for (const piece& p : pieces) {
      if (p.size == 0) return fail("an empty {} at {:#x}", p.kind, p.base);
      if (p.base != expected) {
        return fail("the reservation is not tiled at {:#x}: the {} there starts at {:#x}", expected,
                    p.kind, p.base);
      }
      if (!check_piece(p, previous)) return false;
      if (std::string_view(p.kind) == "chunk") mapped += p.size;
      expected = p.base + p.size;
      previous = &p;
    }
    if (expected != space.base() + space.size()) {
      return fail("the reservation is not tiled: its pieces end at {:#x}, it ends at {:#x}",
                  expected, space.base() + space.size());
    }
    if (mapped != space.mapped_bytes()) {
      return fail("mapped_bytes is {} B, the chunks add up to {} B", space.mapped_bytes(), mapped);
    }
    return true;
  }

  // Every part of the reservation the pool knows of, by address.
  std::vector<piece> reservation_pieces() const {
    const address_space& space = pool_.space_;
    std::vector<piece> pieces;
    for (const auto& [base, size] : space.holes()) pieces.push_back({base, size, "hole"});
    for (const auto& [base, size] : space.chunks()) pieces.push_back({base, size, "chunk"});
    for (const auto& [base, size] : space.abandoned())
      pieces.push_back({base, size, "abandoned range"});
    for (const alias_range& range : pool_.aliases_) {
      pieces.push_back(
          {range.base, range.homes.size() * pool_.settings_.min_chunk_size, "alias range"});
    }
    std::sort(pieces.begin(), pieces.end(),
              [](const piece& a, const piece& b) { return a.base < b.base; });
    return pieces;
  }

  bool check_piece(const piece& p, const piece* previous) {
    const std::size_t chunk = pool_.settings_.min_chunk_size;
    if (previous != nullptr && std::string_view(previous->kind) == "hole" &&
        std::string_view(p.kind) == "hole") {
      return fail("holes at {:#x} and {:#x} touch but are not merged", previous->base, p.base);
    }
    if (std::string_view(p.kind) == "chunk") {
      if (p.size % pool_.settings_.granularity != 0) {
        return fail("the chunk at {:#x} is {} B, not a multiple of the granularity", p.base,
                    p.size);
      }
      if (pool_.bounded() && p.size != chunk) {
        return fail("the bounded pool's chunk at {:#x} is {} B, not min_chunk_size ({} B)", p.base,
                    p.size, chunk);
      }
    }
    if (pool_.bounded() && std::string_view(p.kind) != "hole" && !on_grid(p.base)) {
      return fail("the {} at {:#x} is off the chunk grid (reservation base {:#x}, chunk {} B)",
                  p.kind, p.base, pool_.space_.base(), chunk);
    }
    return true;
  }

  // The block map is a well-linked list in address order whose index finds every block;
  // the blocks outside alias ranges tile the mapped chunks; blocks are whole multiples of
  // the block alignment; adjacent free blocks of one list are merged; no block is
  // set aside (that state exists only while a growth maps memory).
  bool check_blocks() {
    std::vector<std::pair<address, address>> runs;  // chunks that touch, merged
    for (const auto& [base, size] : pool_.space_.chunks()) {
      if (!runs.empty() && runs.back().second == base) {
        runs.back().second = base + size;
      } else {
        runs.emplace_back(base, base + size);
      }
    }
    auto run = runs.begin();
    address cursor = run == runs.end() ? 0 : run->first;
    const block* previous = nullptr;
    std::size_t count = 0;
    bool ok = true;
    pool_.blocks_.for_each([&](const block& b) {
      if (!ok) return;
      ++count;
      ok = check_block(b, previous);
      if (ok && b.alias == nullptr) {
        if (run == runs.end() || b.base != cursor || b.end() > run->second) {
          ok = fail("the {} does not tile the mapped chunks (expected a block at {:#x})",
                    describe(b), cursor);
          return;
        }
        cursor = b.end();
        if (cursor == run->second && ++run != runs.end()) cursor = run->first;
      }
      previous = &b;
    });
    if (!ok) return false;
    if (run != runs.end()) return fail("no block covers the mapped memory at {:#x}", cursor);
    if (count != pool_.blocks_.count()) {
      return fail("the block map counts {} blocks, its list holds {}", pool_.blocks_.count(),
                  count);
    }
    return true;
  }

  bool check_block(const block& b, const block* previous) {
    if (b.lower != previous) return fail("the {} is not linked to the block below it", describe(b));
    if (pool_.blocks_.find(b.base) != &b)
      return fail("the index does not find the {}", describe(b));
    if (b.size == 0 || b.base % block_alignment != 0 || b.size % block_alignment != 0) {
      return fail("the {} is not a whole number of {} B units", describe(b), block_alignment);
    }
    if (previous != nullptr && previous->end() > b.base) {
      return fail("the {} overlaps the {}", describe(b), describe(*previous));
    }
    if (b.state == block_state::set_aside)
      return fail("the {} is set aside by no allocation", describe(b));
    if (b.state == block_state::live &&
        (b.stream == nullptr || b.requested == 0 || b.requested > b.size)) {
      return fail("the {} has requested {} B on stream {}", describe(b), b.requested,
                  static_cast<const void*>(b.stream));
    }
    if (b.state == block_state::lent && (b.size != pool_.settings_.min_chunk_size || b.alias)) {
      return fail("the {} is lent but not one chunk of the pool's", describe(b));
    }
    if (b.alias != nullptr && b.state != block_state::live && b.state != block_state::cached) {
      return fail("the {} occupies an alias range but is neither live nor cached", describe(b));
    }
    if (previous != nullptr && previous->end() == b.base && previous->is_free() && b.is_free() &&
        previous->stream == b.stream) {
      return fail("the {} and the {} are adjacent free blocks of one list, not merged",
                  describe(*previous), describe(b));
    }
    return true;
  }

  // Every free block is in exactly one free list, its stream's (the ownerless list's when it
  // has none), and each list's byte count is its blocks'.
  bool check_free_lists() {
    std::size_t listed = 0;
    const auto check_list = [&](const free_list& list, const stream_state* owner) {
      std::size_t bytes = 0;
      bool ok = true;
      list.for_each([&](const block& b) {
        if (!ok) return;
        ++listed;
        bytes += b.size;
        if (!seen_.insert(&b).second) {
          ok = fail("the {} is in a free list twice, or in two", describe(b));
        } else if (pool_.blocks_.find(b.base) != &b || b.state != block_state::free) {
          ok = fail("the free lists hold the {}, which the block map does not have as free",
                    describe(b));
        } else if (b.stream != owner) {
          ok = fail("the {} of stream {} is in the free list of stream {}", describe(b),
                    static_cast<const void*>(b.stream), static_cast<const void*>(owner));
        }
      });
      if (ok && bytes != list.bytes()) {
        ok = fail("a free list counts {} B, its blocks add up to {} B", list.bytes(), bytes);
      }
      return ok;
    };
    if (!check_list(pool_.ownerless_, nullptr)) return false;
    if (!check_list(pool_.orphans_.free_blocks, &pool_.orphans_)) return false;
    for (const stream_state& stream : pool_.streams_) {
      if (!check_list(stream.free_blocks, &stream)) return false;
    }
    std::size_t free_blocks = 0;
    pool_.blocks_.for_each([&](const block& b) { free_blocks += b.is_free() ? 1 : 0; });
    if (listed != free_blocks) {
      return fail("{} free blocks, {} of them in free lists", free_blocks, listed);
    }
    return true;
  }

  // Every cached block is in its stream's exact-size cache, in the bin of its size.
  bool check_caches() {
    std::size_t listed = 0;
    for (const stream_state& stream : pool_.streams_) {
      std::size_t bytes = 0;
      bool ok = true;
      stream.recent.for_each([&](const block& b, std::size_t bin_size) {
        if (!ok) return;
        ++listed;
        bytes += b.size;
        if (!seen_.insert(&b).second) {
          ok = fail("the {} is cached twice, or also in a free list", describe(b));
        } else if (pool_.blocks_.find(b.base) != &b || b.state != block_state::cached ||
                   b.stream != &stream || b.size != bin_size) {
          ok = fail("stream {}'s cache holds the {} (stream {}) in the bin of {} B",
                    static_cast<const void*>(&stream), describe(b),
                    static_cast<const void*>(b.stream), bin_size);
        }
      });
      if (!ok) return false;
      if (bytes != stream.recent.bytes()) {
        return fail("a stream's cache counts {} B, its blocks add up to {} B",
                    stream.recent.bytes(), bytes);
      }
    }
    std::size_t cached_blocks = 0;
    pool_.blocks_.for_each(
        [&](const block& b) { cached_blocks += b.state == block_state::cached ? 1 : 0; });
    if (listed != cached_blocks) {
      return fail("{} cached blocks, {} of them in the caches", cached_blocks, listed);
    }
    return true;
  }

  // A range in use is one block over the whole range, and each of its chunks is lent at
  // its home to it alone; an idle range holds no block; every lent chunk belongs to a range
  // in use; alias_bytes_ is what the ranges map.
  bool check_alias_ranges() {
    const std::size_t chunk = pool_.settings_.min_chunk_size;
    if (!pool_.bounded() && !pool_.aliases_.empty())
      return fail("an unbounded pool has alias ranges");
    std::size_t bytes = 0;
    std::unordered_set<address> lent_homes;
    for (const alias_range& range : pool_.aliases_) {
      bytes += range.homes.size() * chunk;
      const block* user = pool_.blocks_.find(range.base);
      if (range.user == nullptr) {
        if (user != nullptr)
          return fail("the idle alias range at {:#x} holds the {}", range.base, describe(*user));
        continue;
      }
      if (user != range.user || user->alias != &range || user->size != range.homes.size() * chunk) {
        return fail("the alias range at {:#x} in use is not one block over the whole range",
                    range.base);
      }
      for (const address home : range.homes) {
        const block* lent = pool_.blocks_.find(home);
        if (lent == nullptr || lent->state != block_state::lent) {
          return fail("the alias range at {:#x} maps the chunk at {:#x}, which is not lent",
                      range.base, home);
        }
        if (!lent_homes.insert(home).second) {
          return fail("the chunk at {:#x} is lent to two alias ranges", home);
        }
      }
    }
    if (bytes != pool_.alias_bytes_) {
      return fail("alias_bytes is {} B, the ranges map {} B", pool_.alias_bytes_, bytes);
    }
    std::size_t lent_blocks = 0;
    pool_.blocks_.for_each(
        [&](const block& b) { lent_blocks += b.state == block_state::lent ? 1 : 0; });
    if (lent_blocks != lent_homes.size()) {
      return fail("{} chunks are lent, {} to ranges in use", lent_blocks, lent_homes.size());
    }
    return true;
  }

  // Each stream is indexed by its id once; the last-used stream is one of them; the spare
  // states and the orphans' cache are empty.
  bool check_streams() {
    for (const stream_state& spare : pool_.spare_streams_) {
      if (spare.has_free_blocks() || spare.usage.live_count != 0) {
        return fail("a spare stream state holds blocks");
      }
    }
    if (!pool_.orphans_.recent.empty()) return fail("the orphans' exact-size cache holds blocks");
    if (pool_.stream_index_.size() != pool_.streams_.size()) {
      return fail("{} streams, {} in the index", pool_.streams_.size(), pool_.stream_index_.size());
    }
    for (const stream_state& stream : pool_.streams_) {
      const auto found = pool_.stream_index_.find(stream.stream.id());
      if (found == pool_.stream_index_.end() || found->second != &stream) {
        return fail("the stream index does not find {}", to_string(stream.stream));
      }
    }
    const bool last_known =
        pool_.last_stream_ == nullptr ||
        std::any_of(pool_.streams_.begin(), pool_.streams_.end(),
                    [&](const stream_state& s) { return &s == pool_.last_stream_; });
    return last_known || fail("the last stream used is not one of the pool's");
  }

  // The statistics say what the blocks say: mapped = live + cached (a lent chunk counted
  // through its range's block), live counts and bytes in total and per stream, and the
  // ways of serving an allocation add up to the allocations.
  bool check_accounting() {
    const stream_ordered_stats& stats = pool_.stats_;
    std::size_t live_count = 0;
    std::size_t live_bytes = 0;
    std::size_t live_block_bytes = 0;
    std::size_t cached_bytes = 0;
    pool_.blocks_.for_each([&](const block& b) {
      if (b.state == block_state::live) {
        ++live_count;
        live_bytes += b.requested;
        live_block_bytes += b.size;
      } else if (b.state != block_state::lent) {
        cached_bytes += b.size;
      }
    });
    if (stats.live_count != live_count || stats.live_bytes != live_bytes ||
        stats.live_block_bytes != live_block_bytes) {
      return fail(
          "the statistics count {} live ({} B in {} B of blocks), the blocks {} ({} B in {} B)",
          stats.live_count, stats.live_bytes, stats.live_block_bytes, live_count, live_bytes,
          live_block_bytes);
    }
    if (stats.cached_bytes != cached_bytes) {
      return fail("cached_bytes is {} B, the free blocks add up to {} B", stats.cached_bytes,
                  cached_bytes);
    }
    if (live_block_bytes + cached_bytes != pool_.space_.mapped_bytes()) {
      return fail("live blocks ({} B) and cached ({} B) do not add up to the mapped {} B",
                  live_block_bytes, cached_bytes, pool_.space_.mapped_bytes());
    }
    return check_peaks_and_counts(live_count) && check_stream_usage();
  }

  // Peaks are not below the present values, and the ways of serving an allocation add up
  // to the allocations.
  bool check_peaks_and_counts(std::size_t live_count) {
    const stream_ordered_stats& stats = pool_.stats_;
    if (stats.peak_live_bytes < stats.live_bytes ||
        stats.peak_mapped_bytes < pool_.space_.mapped_bytes()) {
      return fail("a peak is below the present value");
    }
    const std::uint64_t served = stats.same_stream_reuses + stats.settled_reuses +
                                 stats.completed_stream_reuses + stats.waited_stream_reuses +
                                 stats.grown_allocations + stats.alias_reuses;
    if (served != stats.allocations || stats.allocations - stats.deallocations != live_count) {
      return fail("{} allocations, {} served, {} deallocations, {} live", stats.allocations, served,
                  stats.deallocations, live_count);
    }
    return true;
  }

  // Each stream's live count and bytes are its live blocks'.
  bool check_stream_usage() {
    std::vector<const stream_state*> states;
    for (const stream_state& stream : pool_.streams_) states.push_back(&stream);
    states.push_back(&pool_.orphans_);
    for (const stream_state* state : states) {
      const stream_state& stream = *state;
      std::size_t count = 0;
      std::size_t bytes = 0;
      pool_.blocks_.for_each([&](const block& b) {
        if (b.state != block_state::live || b.stream != &stream) return;
        ++count;
        bytes += b.requested;
      });
      if (stream.usage.live_count != count || stream.usage.live_bytes != bytes) {
        return fail("{} counts {} live ({} B), its live blocks are {} ({} B)",
                    to_string(stream.stream), stream.usage.live_count, stream.usage.live_bytes,
                    count, bytes);
      }
    }
    return true;
  }

  const stream_ordered_pool& pool_;
  std::unordered_set<const block*> seen_;  // in a free list or a cache
  std::string first_violation_;
};

std::string stream_ordered_pool::check_invariants() const {
  std::lock_guard lock(lock_);
  return invariant_checker(*this).run();
}

}  // namespace vmm_pmr::detail
