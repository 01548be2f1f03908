// The raw driver sequence; see raw_sequence.hpp.
#include "workloads/raw_sequence.hpp"

#include <stdexcept>

#include "vmm_pmr/core/byte_size.hpp"

namespace vmm_pmr::bench {

raw_sequence::raw_sequence(backend& driver, detail::resolved_options options)
    : driver_(driver), options_(std::move(options)) {}

std::size_t raw_sequence::rounded(std::size_t bytes) const {
  const std::optional<std::size_t> size = round_up(bytes, options_.granularity);
  if (!size) throw std::overflow_error("raw_sequence: size overflows when rounded up");
  return *size;
}

raw_allocation raw_sequence::allocate(std::size_t bytes) {
  raw_allocation allocation{.base = 0, .size = rounded(bytes), .memory = 0};
  allocation.memory = driver_.create(allocation.size, options_.properties);
  bool reserved = false;
  bool mapped = false;
  // Rollback only so that a failing run does not leak into the next measurement; the
  // try block costs nothing on the path that is timed.
  try {
    allocation.base =
        driver_.reserve_address_range(allocation.size, options_.reservation_alignment, 0);
    reserved = true;
    driver_.map(allocation.base, allocation.size, 0, allocation.memory);
    mapped = true;
    driver_.set_access(allocation.base, allocation.size, options_.access);
  } catch (...) {
    if (mapped) driver_.unmap(allocation.base, allocation.size);
    if (reserved) driver_.free_address_range(allocation.base, allocation.size);
    driver_.release(allocation.memory);
    throw;
  }
  return allocation;
}

void raw_sequence::deallocate(const raw_allocation& allocation) {
  driver_.unmap(allocation.base, allocation.size);
  driver_.release(allocation.memory);
  driver_.free_address_range(allocation.base, allocation.size);
}

}  // namespace vmm_pmr::bench
