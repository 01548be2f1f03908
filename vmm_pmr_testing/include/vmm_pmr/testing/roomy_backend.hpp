// Test double: a backend decorator that places every reservation where the address
// space right behind it is free, so that growth behind via a hint can be tested
// deterministically on the host backend. The CUDA driver takes a hint as a wish: it
// refuses some hints at free addresses (measured on an H100, driver 580), so on a GPU
// this only makes room behind likely, and tests must not assert it.
//
// Linux (and the host backend with it) places mappings top-down: the address right
// behind a fresh reservation usually belongs to the previous one, and growth in place
// would rarely get its hint. This decorator reserves `size + room` bytes, gives them
// back, and reserves `size` at the start of that free space (as a hint, which the
// backend may still refuse). Hinted reservations are forwarded as they are, so a
// host-backend test can take the space behind an allocation on purpose (reserve it with
// the end as hint; no_room_behind_backend does that on every backend).
#pragma once

#include <cstddef>
#include <memory>
#include <utility>

#include "vmm_pmr/backend/forwarding_backend.hpp"

namespace vmm_pmr::testing {

class roomy_backend final : public forwarding_backend {
 public:
  static constexpr std::size_t default_room = std::size_t{1} << 30;

  explicit roomy_backend(std::shared_ptr<backend> inner, std::size_t room = default_room)
      : forwarding_backend(std::move(inner)), room_(room) {}

  address reserve_address_range(std::size_t size, std::size_t alignment, address hint) override {
    if (hint != 0) return inner().reserve_address_range(size, alignment, hint);
    const address roomy = inner().reserve_address_range(size + room_, alignment, 0);
    inner().free_address_range(roomy, size + room_);
    return inner().reserve_address_range(size, alignment, roomy);
  }

 private:
  std::size_t room_;
};

}  // namespace vmm_pmr::testing
