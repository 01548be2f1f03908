// std::pmr's allocate and deallocate for a memory_resource `Derived`, with the alignment
// deduced so that `{}` cannot be taken for it. std::pmr's own signature reads
// allocate(n, {}) as alignment 0 and throws; on a resource whose own allocate takes a
// stream next, `{}` then names the stream (stream_ordered_resource), and on one that has
// none the call does not compile (stream_bound_resource). Through a memory_resource&
// nothing changes.
#pragma once

#include <concepts>
#include <cstddef>
#include <memory_resource>

namespace vmm_pmr::detail {

template <typename Derived>
class deduced_alignment_calls {
 public:
  [[nodiscard]] void* allocate(std::size_t bytes) { return as_pmr().allocate(bytes); }
  template <std::integral Alignment>
  [[nodiscard]] void* allocate(std::size_t bytes, Alignment alignment) {
    return as_pmr().allocate(bytes, static_cast<std::size_t>(alignment));
  }
  void deallocate(void* pointer, std::size_t bytes) { as_pmr().deallocate(pointer, bytes); }
  template <std::integral Alignment>
  void deallocate(void* pointer, std::size_t bytes, Alignment alignment) {
    as_pmr().deallocate(pointer, bytes, static_cast<std::size_t>(alignment));
  }

 private:
  std::pmr::memory_resource& as_pmr() noexcept { return static_cast<Derived&>(*this); }
};

}  // namespace vmm_pmr::detail
