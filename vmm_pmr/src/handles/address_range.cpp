#include "vmm_pmr/handles/address_range.hpp"

#include <fmt/format.h>

#include "vmm_pmr/core/byte_size.hpp"
#include "vmm_pmr/core/cleanup_errors.hpp"

namespace vmm_pmr {

void detail::free_address_range(backend& owner, std::uint64_t base, std::size_t size) noexcept {
  try {
    owner.free_address_range(base, size);
  } catch (const std::exception& failure) {
    report_cleanup_error(fmt::format("free address range {:#x} ({})", base, format_bytes(size)),
                         failure);
  }
}

}  // namespace vmm_pmr
