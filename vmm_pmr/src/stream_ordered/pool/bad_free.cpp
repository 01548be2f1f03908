// Diagnosing a refused deallocate(): what the pointer was (unknown, a double free, an
// interior pointer, inside free memory, where nothing is mapped, or the start of a live
// block with another size). Off the hot path: it runs only for bad input.
#include <algorithm>

#include "stream_ordered/pool/stream_ordered_pool.hpp"

namespace vmm_pmr::detail {

free_outcome stream_ordered_pool::diagnose_bad_free(address at, const block* found) {
  ++stats_.deallocation_errors;
  free_outcome outcome;
  if (found != nullptr) {
    outcome.block_base = found->base;
    if (found->state == block_state::live) {
      outcome.problem = bad_free::wrong_size;
      outcome.block_requested = found->requested;
    } else {
      outcome.problem = bad_free::double_free;
    }
    return outcome;
  }
  if (const block* holder = blocks_.containing(at)) {
    outcome.block_base = holder->base;
    if (holder->state == block_state::live) {
      outcome.problem = bad_free::interior_pointer;
      outcome.block_requested = holder->requested;
    } else {
      outcome.problem = bad_free::inside_free_block;
    }
    return outcome;
  }
  const bool in_idle_range =
      std::any_of(aliases_.begin(), aliases_.end(), [&](const alias_range& r) {
        return at >= r.base && at - r.base < r.homes.size() * settings_.min_chunk_size;
      });
  outcome.problem = in_idle_range         ? bad_free::inside_free_block
                    : space_.contains(at) ? bad_free::unmapped_pointer
                                          : bad_free::unknown_pointer;
  return outcome;
}

}  // namespace vmm_pmr::detail
