// Alias ranges of a bounded pool: reusing, returning and retiring them (making one is in
// new_alias_range.cpp; when growth makes one, in bounded_growth.cpp). The mechanism and its
// invariants are in alias_range.hpp.
//
// Invariant kept here: a chunk is lent to at most one range in use, and only while that
// range is in use; a range is retired only when idle and its last user's work is done.
#include <algorithm>
#include <cassert>
#include <vector>

#include "stream_ordered/pool/stream_ordered_pool.hpp"

namespace vmm_pmr::detail {
namespace {

// The alias ranges may map up to this many times the pool's memory. A repeating workload
// needs a few times the ranges' worth at most before its set of ranges stops changing (the
// churn traces of the benchmark level off at 1.5-3); a mapping costs no memory, only page
// tables and the driver's bookkeeping, and an unmap when it goes.
constexpr std::size_t alias_bytes_per_mapped_byte = 4;

}  // namespace

std::size_t stream_ordered_pool::chunks_for(std::size_t block_size) const noexcept {
  const std::size_t chunk = settings_.min_chunk_size;
  return block_size / chunk + (block_size % chunk != 0 ? 1 : 0);
}

std::pmr::vector<stream_ordered_pool::usable_chunk> stream_ordered_pool::usable_chunks(
    const stream_state& stream) {
  const std::size_t chunk = settings_.min_chunk_size;
  std::pmr::vector<usable_chunk> found(&bookkeeping_);
  blocks_.for_each([&](block& b) {
    if (!b.is_free() || (b.stream != &stream && b.stream != nullptr)) return;
    const address first = space_.base() + (b.base - space_.base() + chunk - 1) / chunk * chunk;
    for (address home = first; home < b.end() && b.end() - home >= chunk; home += chunk) {
      found.push_back({home, &b});
    }
  });
  return found;
}

block* stream_ordered_pool::take_idle_alias_range(stream_state& stream, std::size_t block_size,
                                                  std::size_t alignment) {
  const std::size_t wanted = chunks_for(block_size);
  const auto fits = [&](const alias_range& range) {
    return range.user == nullptr && range.homes.size() == wanted && range.base % alignment == 0;
  };
  if (std::none_of(aliases_.begin(), aliases_.end(), fits)) return nullptr;
  const std::pmr::vector<usable_chunk> usable = usable_chunks(stream);
  const auto holder_of = [&](address home) -> block* {
    const auto found = std::lower_bound(
        usable.begin(), usable.end(), home,
        [](const usable_chunk& chunk, address wanted_home) { return chunk.home < wanted_home; });
    return found != usable.end() && found->home == home ? found->holder : nullptr;
  };
  for (auto range = aliases_.begin(); range != aliases_.end(); ++range) {
    if (!fits(*range)) continue;
    std::pmr::vector<usable_chunk> chunks(&bookkeeping_);
    for (const address home : range->homes) {
      block* holder = holder_of(home);
      if (holder == nullptr) break;
      chunks.push_back({home, holder});
    }
    if (chunks.size() != wanted) continue;
    lend_chunks(chunks);
    return &use_alias_range(range);
  }
  return nullptr;
}

block& stream_ordered_pool::use_alias_range(std::pmr::list<alias_range>::iterator range) {
  aliases_.splice(aliases_.begin(), aliases_, range);
  block& user = blocks_.insert({.base = range->base,
                                .size = range->homes.size() * settings_.min_chunk_size,
                                .state = block_state::set_aside,
                                .stream = nullptr,
                                .alias = &*range});
  range->user = &user;
  return user;
}

std::pmr::vector<stream_ordered_pool::usable_chunk> stream_ordered_pool::chunks_to_borrow(
    const stream_state& stream, std::size_t wanted) {
  std::pmr::vector<usable_chunk> found = usable_chunks(stream);
  std::sort(found.begin(), found.end(), [](const usable_chunk& a, const usable_chunk& b) {
    return a.holder->size != b.holder->size ? a.holder->size < b.holder->size : a.home > b.home;
  });
  if (found.size() > wanted) found.resize(wanted);
  return found;
}

void stream_ordered_pool::lend_chunks(std::pmr::vector<usable_chunk>& chunks) {
  const std::size_t chunk = settings_.min_chunk_size;
  std::sort(chunks.begin(), chunks.end(),
            [](const usable_chunk& a, const usable_chunk& b) { return a.home > b.home; });
  for (const auto& [home, holder] : chunks) {
    free_list& list = list_of(holder->stream);
    list.erase(*holder);
    block* lent = holder;
    if (home > holder->base) {
      lent = &blocks_.split(*holder, home);
      list.insert(*holder);
    }
    if (lent->size > chunk) list.insert(blocks_.split(*lent, home + chunk));
    // Keeps its stream and free_sequence: a range that cannot be made gives it back so.
    lent->state = block_state::lent;
  }
}

void stream_ordered_pool::return_alias_range(block& user, stream_state* stream) {
  alias_range& range = *user.alias;
  assert(range.user == &user);
  for (const address home : range.homes) {
    block* lent = blocks_.find(home);
    assert(lent != nullptr && lent->state == block_state::lent);
    lent->free_sequence = user.free_sequence;
    release_into(*lent, stream);
  }
  range.user = nullptr;
  range.last_stream = stream;
  range.last_free_sequence = user.free_sequence;
  blocks_.erase(user);
}

bool stream_ordered_pool::alias_range_done(const alias_range& range) {
  stream_state* const stream = range.last_stream;
  if (stream == nullptr) return true;
  const auto covered = [&] {
    return stream->event_recorded && stream->event_complete &&
           stream->event_covers >= range.last_free_sequence;
  };
  if (covered()) return true;
  // An event recorded on a capturing stream would become a node of its graph; a destroyed
  // stream's ranges wait for reclaim_orphans().
  if (stream_is_gone(*stream) || driver_.stream_is_capturing(stream->stream)) return false;
  record_frees(*stream);
  stream_is_done(*stream);
  return covered();
}

void stream_ordered_pool::retire(std::pmr::list<alias_range>::iterator range,
                                 address_list& retiring) {
  const std::size_t bytes = range->homes.size() * settings_.min_chunk_size;
  retiring.emplace_back(range->base, bytes);
  alias_bytes_ -= bytes;
  aliases_.erase(range);
}

void stream_ordered_pool::make_room_for_alias_range(std::unique_lock<spin_lock>& lock,
                                                    std::size_t range_bytes) {
  const std::size_t share = alias_bytes_per_mapped_byte * space_.mapped_bytes();
  const auto hole_holds_range = [&] {
    return std::any_of(space_.holes().begin(), space_.holes().end(),
                       [&](const auto& hole) { return hole.second >= range_bytes; });
  };
  bool hole_found = hole_holds_range();
  // retire() takes a range's bytes out of alias_bytes_ at once.
  const auto enough = [&] { return alias_bytes_ + range_bytes <= share && hole_found; };
  if (enough() || capturing_stream() != nullptr) return;  // nothing is unmapped during a capture
  address_list retiring(&bookkeeping_);
  // The least recently used first.
  for (auto range = aliases_.end(); range != aliases_.begin() && !enough();) {
    --range;
    if (range->user != nullptr || !alias_range_done(*range)) continue;
    const std::size_t bytes = range->homes.size() * settings_.min_chunk_size;
    // Its addresses become a hole at least as large.
    hole_found = hole_found || bytes >= range_bytes;
    auto retired = range;
    ++range;
    retire(retired, retiring);
  }
  if (retiring.empty()) return;
  address_list no_chunks(&bookkeeping_);
  unmap_retired(lock, retiring, no_chunks);
}

}  // namespace vmm_pmr::detail
