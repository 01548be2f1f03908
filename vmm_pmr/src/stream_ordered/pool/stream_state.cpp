#include "stream_ordered/pool/stream_state.hpp"

#include <algorithm>

namespace vmm_pmr::detail {

void stream_state::reset(stream_view new_stream, std::uint64_t new_serial) noexcept {
  stream = new_stream;
  newest_free = 0;
  event_covers = 0;
  event_recorded = false;
  event_complete = false;
  waited_for.clear();
  usage = stream_usage{};
  usage.stream = new_stream;
  serial = new_serial;
}

std::uint64_t stream_state::waited_sequence(const stream_state& donor) const noexcept {
  for (const auto& [waited, covers] : waited_for) {
    if (waited == &donor) return covers;
  }
  return 0;
}

void stream_state::note_wait(stream_state& donor, std::uint64_t covers) {
  for (auto& [waited, waited_covers] : waited_for) {
    if (waited == &donor) {
      waited_covers = std::max(waited_covers, covers);
      return;
    }
  }
  waited_for.emplace_back(&donor, covers);
}

}  // namespace vmm_pmr::detail
