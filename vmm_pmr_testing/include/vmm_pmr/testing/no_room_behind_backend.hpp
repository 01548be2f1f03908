// Test double: a backend decorator that never honours an address hint, so that every
// growth past an allocation's reservation has to move (growth by remapping), on every
// backend and deterministically.
//
// Growth first asks for the address space right behind the allocation, as a hint. The
// CUDA driver treats a hint as a wish: it packs reservations back to back, so that range
// is often taken, and even a free one is sometimes placed elsewhere (measured on an H100,
// driver 580). A test that needs the address behind taken cannot rely on reserving it
// itself with a hint, then. This decorator answers every hinted reserve with a range
// elsewhere: it reserves without the hint, and should the backend return the hinted
// address anyway, reserves again (necessarily elsewhere) and gives the first back.
// Reservations without a hint are forwarded as they are.
#pragma once

#include <cstddef>
#include <memory>
#include <utility>

#include "vmm_pmr/backend/forwarding_backend.hpp"

namespace vmm_pmr::testing {

class no_room_behind_backend final : public forwarding_backend {
 public:
  explicit no_room_behind_backend(std::shared_ptr<backend> inner)
      : forwarding_backend(std::move(inner)) {}

  address reserve_address_range(std::size_t size, std::size_t alignment, address hint) override {
    const address first = inner().reserve_address_range(size, alignment, 0);
    if (hint == 0 || first != hint) return first;
    address elsewhere = 0;
    try {
      elsewhere = inner().reserve_address_range(size, alignment, 0);
    } catch (...) {
      inner().free_address_range(first, size);
      throw;
    }
    inner().free_address_range(first, size);
    return elsewhere;
  }
};

}  // namespace vmm_pmr::testing
