#include "vmm_pmr/handles/pinned_host_memory.hpp"

#include <fmt/format.h>

#include "vmm_pmr/core/byte_size.hpp"
#include "vmm_pmr/core/cleanup_errors.hpp"

namespace vmm_pmr {

void pinned_host_memory::reset() noexcept {
  if (backend_ == nullptr) return;
  try {
    std::exchange(backend_, nullptr)->free_pinned_host(data_, size_);
  } catch (const std::exception& failure) {
    report_cleanup_error(fmt::format("free pinned host memory {} ({})", data_, format_bytes(size_)),
                         failure);
  }
  data_ = nullptr;
  size_ = 0;
}

}  // namespace vmm_pmr
