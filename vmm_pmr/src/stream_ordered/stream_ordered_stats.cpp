#include "vmm_pmr/stream_ordered/stream_ordered_stats.hpp"

#include <fmt/format.h>

#include "vmm_pmr/core/byte_size.hpp"

namespace vmm_pmr {

std::string to_string(const stream_ordered_stats& stats) {
  std::string text = fmt::format(
      "{} live ({}), {} cached, {} mapped in {} chunk{} of {} reserved; peak {} live, {} mapped; "
      "{} allocations ({} same-stream, {} settled, {} completed on another stream, {} after a "
      "wait, {} grown), {} stream waits, {} released in {} chunks, {} bad deallocations",
      stats.live_count, format_bytes(stats.live_bytes), format_bytes(stats.cached_bytes),
      format_bytes(stats.mapped_bytes), stats.chunk_count, stats.chunk_count == 1 ? "" : "s",
      format_bytes(stats.reserved_bytes), format_bytes(stats.peak_live_bytes),
      format_bytes(stats.peak_mapped_bytes), stats.allocations, stats.same_stream_reuses,
      stats.settled_reuses, stats.completed_stream_reuses, stats.waited_stream_reuses,
      stats.grown_allocations, stats.stream_waits, format_bytes(stats.bytes_released),
      stats.chunks_released, stats.deallocation_errors);
  if (stats.alias_ranges_made != 0) {
    text +=
        fmt::format("; alias ranges: {} ({}) now, {} made mapping {} chunks, {} reuses, {} retired",
                    stats.alias_ranges, format_bytes(stats.alias_bytes), stats.alias_ranges_made,
                    stats.alias_chunks_mapped, stats.alias_reuses, stats.alias_ranges_retired);
  }
  return text;
}

}  // namespace vmm_pmr
