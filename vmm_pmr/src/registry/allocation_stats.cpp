#include "vmm_pmr/registry/allocation_stats.hpp"

#include "vmm_pmr/registry/allocation_stats_formatter.hpp"

namespace vmm_pmr {

std::string to_string(const allocation_stats& stats) {
  return fmt::format(
      "{} live ({} requested, {} mapped), peak {} ({} mapped), {} made in total ({}), {} bad "
      "deallocations",
      stats.live_count, format_bytes(stats.live_bytes), format_bytes(stats.live_mapped_bytes),
      stats.peak_count, format_bytes(stats.peak_mapped_bytes), stats.total_count,
      format_bytes(static_cast<std::size_t>(stats.total_bytes)), stats.deallocation_errors);
}

}  // namespace vmm_pmr

fmt::format_context::iterator fmt::formatter<vmm_pmr::allocation_stats>::format(
    const vmm_pmr::allocation_stats& stats, fmt::format_context& ctx) const {
  return fmt::formatter<fmt::string_view>::format(vmm_pmr::to_string(stats), ctx);
}
