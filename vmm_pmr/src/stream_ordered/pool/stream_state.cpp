#include "stream_ordered/pool/stream_state.hpp"

#include <algorithm>

namespace vmm_pmr::detail {

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
