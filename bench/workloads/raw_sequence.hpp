// The raw driver sequence: one VMM allocation made by calling the backend directly.
//
// allocate() is create → reserve → map → set access, deallocate() is unmap → release →
// free, in exactly the order and with exactly the arguments vmm_allocation uses, on the
// same backend and with the same resolved options as the vmm_resource it is compared
// with. It has no registry and no RAII: it is the floor the library is measured against,
// so whatever vmm_resource costs above it is the library's own overhead.
#pragma once

#include <cstddef>

#include "vmm_pmr/backend/backend.hpp"
#include "vmm_pmr/resource/detail/resolved_options.hpp"
#include "vmm_pmr/resource/vmm_options.hpp"

namespace vmm_pmr::bench {

struct raw_allocation {
  address base = 0;
  std::size_t size = 0;  // rounded to the granularity
  physical_handle memory = 0;
};

class raw_sequence {
 public:
  // `options` as vmm_resource resolves them (detail::resolve_options(vmm_options{}, backend)).
  raw_sequence(backend& driver, detail::resolved_options options);

  std::size_t granularity() const noexcept { return options_.granularity; }
  // `bytes` rounded up to the granularity, as vmm_resource rounds it.
  std::size_t rounded(std::size_t bytes) const;

  raw_allocation allocate(std::size_t bytes);
  void deallocate(const raw_allocation& allocation);

 private:
  backend& driver_;
  detail::resolved_options options_;
};

}  // namespace vmm_pmr::bench
