// A backend decorator that counts the calls that make something (address reservations,
// physical allocations, mappings, access grants) and the bytes mapped, so that a row can
// show the driver work behind its time, counted from the run rather than written down.
// The counters are atomic: a resource may call its backend from several threads at once.
#pragma once

#include <atomic>
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
  std::uint64_t mapped_bytes = 0;  // summed over the map calls

  std::uint64_t total() const noexcept { return reserve + create + map + set_access; }
  friend bool operator==(const making_calls&, const making_calls&) = default;
};

class call_counting_backend final : public forwarding_backend {
 public:
  explicit call_counting_backend(std::shared_ptr<backend> inner)
      : forwarding_backend(std::move(inner)) {}

  address reserve_address_range(std::size_t size, std::size_t alignment, address hint) override {
    ++reserve_;
    return forwarding_backend::reserve_address_range(size, alignment, hint);
  }
  physical_handle create(std::size_t size, const physical_properties& props) override {
    ++create_;
    return forwarding_backend::create(size, props);
  }
  void map(address at, std::size_t size, std::size_t offset, physical_handle handle) override {
    ++map_;
    mapped_bytes_ += size;
    forwarding_backend::map(at, size, offset, handle);
  }
  void set_access(address at, std::size_t size, std::span<const access_grant> grants) override {
    ++set_access_;
    forwarding_backend::set_access(at, size, grants);
  }

  making_calls made() const noexcept {
    return {reserve_.load(), create_.load(), map_.load(), set_access_.load(), mapped_bytes_.load()};
  }

 private:
  std::atomic<std::uint64_t> reserve_{0};
  std::atomic<std::uint64_t> create_{0};
  std::atomic<std::uint64_t> map_{0};
  std::atomic<std::uint64_t> set_access_{0};
  std::atomic<std::uint64_t> mapped_bytes_{0};
};

}  // namespace vmm_pmr::testing
