// A backend decorator that counts the calls that make something (address reservations,
// physical allocations, mappings, access grants), so that a row can show the driver work
// behind its time, counted from the run rather than written down.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>

#include "vmm_pmr/backend/forwarding_backend.hpp"

namespace vmm_pmr::testing {

struct making_calls {
  std::uint64_t reserve = 0;
  std::uint64_t create = 0;
  std::uint64_t map = 0;
  std::uint64_t set_access = 0;

  std::uint64_t total() const noexcept { return reserve + create + map + set_access; }
  friend bool operator==(const making_calls&, const making_calls&) = default;
};

class call_counting_backend final : public forwarding_backend {
 public:
  explicit call_counting_backend(std::shared_ptr<backend> inner)
      : forwarding_backend(std::move(inner)) {}

  address reserve_address_range(std::size_t size, std::size_t alignment, address hint) override {
    ++made_.reserve;
    return forwarding_backend::reserve_address_range(size, alignment, hint);
  }
  physical_handle create(std::size_t size, const physical_properties& props) override {
    ++made_.create;
    return forwarding_backend::create(size, props);
  }
  void map(address at, std::size_t size, std::size_t offset, physical_handle handle) override {
    ++made_.map;
    forwarding_backend::map(at, size, offset, handle);
  }
  void set_access(address at, std::size_t size, std::span<const access_grant> grants) override {
    ++made_.set_access;
    forwarding_backend::set_access(at, size, grants);
  }

  const making_calls& made() const noexcept { return made_; }

 private:
  making_calls made_;
};

}  // namespace vmm_pmr::testing
