// Free-list bookkeeping: putting a free block into the list it belongs to, merged with its
// free neighbours, and emptying the exact-size caches into the free lists.
//
// Invariant: after release_into(), no two adjacent free blocks of one list are apart: a
// block of stream S merges with free neighbours of S and with ownerless ones (through
// which it may reach more of S's), and the merged block is S's.
#include <algorithm>

#include "stream_ordered/pool/stream_ordered_pool.hpp"

namespace vmm_pmr::detail {

// A stream's block also absorbs ownerless neighbours: ownerless memory is safe for any stream,
// so counting it as the stream's (pending its work) only costs other streams an event
// later, while leaving it apart would split free space between two lists and force
// growth where one merged block would have served.
void stream_ordered_pool::release_into(block& b, stream_state* stream) {
  if (b.alias != nullptr) {
    return_alias_range(b, stream);
    return;
  }
  b.state = block_state::free;
  b.stream = stream;
  free_list& list = list_of(stream);
  const auto mergeable = [stream](const block* neighbour) {
    return neighbour != nullptr && neighbour->is_free() &&
           (neighbour->stream == stream || neighbour->stream == nullptr);
  };
  // Past a ownerless neighbour may lie a block of `stream` that the ownerless one never merged
  // with (it was in another list then): keep going until a neighbour is not mergeable.
  block* merged = &b;
  for (block* before = blocks_.adjacent_before(*merged); mergeable(before);
       before = blocks_.adjacent_before(*merged)) {
    list_of(before->stream).erase(*before);
    before->free_sequence = std::max(before->free_sequence, merged->free_sequence);
    before->stream = stream;
    blocks_.absorb(*before, *merged);
    merged = before;
  }
  for (block* after = blocks_.adjacent_after(*merged); mergeable(after);
       after = blocks_.adjacent_after(*merged)) {
    list_of(after->stream).erase(*after);
    merged->free_sequence = std::max(merged->free_sequence, after->free_sequence);
    blocks_.absorb(*merged, *after);
  }
  list.insert(*merged);
}

void stream_ordered_pool::flush_cache(stream_state& stream) {
  stream.recent.drain([&](block& b) { release_into(b, &stream); });
}

void stream_ordered_pool::flush_all_caches() {
  for (stream_state& stream : streams_) flush_cache(stream);
}

}  // namespace vmm_pmr::detail
