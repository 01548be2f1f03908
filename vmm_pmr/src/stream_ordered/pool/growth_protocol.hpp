// The growth protocol: how every path that maps memory (unbounded_growth.cpp,
// bounded_growth.cpp, new_alias_range.cpp) does it, so that no driver call runs under the
// pool's lock and a failure leaves the pool as it was.
//   1. Under the lock, the path sets aside what it will use: address ranges taken out of
//      the holes (address_space::take), free blocks taken out of their lists (state
//      set_aside, or lent for an alias range's chunks).
//   2. map_without_lock() unlocks and runs the driver's part: RAII chunks built
//      (build_chunk), access granted, chunks registered (register_chunks).
//   3. If that throws: what was registered is unregistered (which unmaps it), what was
//      built and not registered is unmapped by its destructors; the lock is taken again,
//      the path's give_back puts back what step 1 set aside, and the error propagates.
//   4. Else the lock is taken again and the path adds the chunks (add_mapped_chunk),
//      counts the growth (count_growth), carves the request and hands it out
//      (hand_out_from).
// Invariant: while the lock is released, what step 1 set aside is in no hole and no free
// list, so no other call can take it, and no other call can see it half mapped;
// growths_in_flight_ counts the growths in step 2 or 3 (sleep() waits for them to end).
#pragma once

#include <mutex>
#include <utility>

#include "stream_ordered/pool/stream_ordered_pool.hpp"

namespace vmm_pmr::detail {

template <typename MapChunks, typename GiveBack>
void stream_ordered_pool::map_without_lock(std::unique_lock<spin_lock>& lock,
                                           MapChunks&& map_chunks, GiveBack&& give_back) {
  ++growths_in_flight_;
  lock.unlock();
  registered_chunks registered;
  try {
    std::forward<MapChunks>(map_chunks)(registered);
  } catch (...) {
    unregister_chunks(registered);
    lock.lock();
    --growths_in_flight_;
    std::forward<GiveBack>(give_back)();
    throw;
  }
  lock.lock();
  --growths_in_flight_;
}

}  // namespace vmm_pmr::detail
