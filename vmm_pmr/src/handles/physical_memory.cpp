#include "vmm_pmr/handles/physical_memory.hpp"

#include <fmt/format.h>

#include "vmm_pmr/core/byte_size.hpp"
#include "vmm_pmr/core/cleanup_errors.hpp"

namespace vmm_pmr {

void detail::release_physical_memory(backend& owner, std::uint64_t handle,
                                     std::size_t size) noexcept {
  try {
    owner.release(handle);
  } catch (const std::exception& failure) {
    report_cleanup_error(
        fmt::format("release physical memory #{} ({})", handle, format_bytes(size)), failure);
  }
}

physical_memory physical_memory::adopt(backend& owner, physical_handle handle, std::size_t size) {
  physical_memory memory;
  memory.object_ = {owner, handle, size};
  return memory;
}

}  // namespace vmm_pmr
