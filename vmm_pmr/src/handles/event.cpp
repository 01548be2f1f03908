#include "vmm_pmr/handles/event.hpp"

#include <fmt/format.h>

#include "vmm_pmr/core/cleanup_errors.hpp"

namespace vmm_pmr {

void event::reset() noexcept {
  if (backend_ == nullptr) return;
  try {
    std::exchange(backend_, nullptr)->destroy_event(handle_);
  } catch (const std::exception& failure) {
    report_cleanup_error(fmt::format("destroy event {:#x}", handle_), failure);
  }
  handle_ = 0;
}

}  // namespace vmm_pmr
