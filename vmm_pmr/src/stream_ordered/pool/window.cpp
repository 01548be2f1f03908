#include "stream_ordered/pool/window.hpp"

#include <algorithm>

#include "stream_ordered/pool/size_classes.hpp"

namespace vmm_pmr::detail {
namespace {

// The search over one run of touching segments [first, last].
class window_search {
 public:
  window_search(const std::pmr::vector<window_segment>& segments, std::size_t block_size,
                const chunk_grid& grid)
      : segments_(segments), block_size_(block_size), grid_(grid) {}

  // Keeps the window starting at `start` if it fits the run and beats the best so far.
  void consider(std::size_t first, std::size_t last, address start) {
    const address region_base = segments_[first].base;
    const address region_end = segments_[last].end;
    if (start < region_base || start > region_end || region_end - start < block_size_) return;
    const address end = start + block_size_;
    const address first_slot = grid_.slot_floor(start);
    const address end_slot = grid_.slot_floor(end - 1) + grid_.chunk;
    if (end_slot > grid_.end || end_slot < first_slot) return;
    const std::size_t missing = missing_chunks(first, last, first_slot, end_slot);
    if (!best_ || missing < best_->missing || (missing == best_->missing && start < best_->start)) {
      best_ = window_plan{start, first_slot, end_slot, missing};
    }
  }

  const std::optional<window_plan>& best() const noexcept { return best_; }

 private:
  std::size_t missing_chunks(std::size_t first, std::size_t last, address first_slot,
                             address end_slot) const noexcept {
    std::size_t missing = 0;
    for (std::size_t i = first; i <= last; ++i) {
      if (!segments_[i].hole) continue;
      const address low = std::max(segments_[i].base, first_slot);
      const address high = std::min(segments_[i].end, end_slot);
      if (low < high) missing += (high - low) / grid_.chunk;
    }
    return missing;
  }

  const std::pmr::vector<window_segment>& segments_;
  std::size_t block_size_;
  chunk_grid grid_;
  std::optional<window_plan> best_;
};

}  // namespace

std::optional<window_plan> best_window(const std::pmr::vector<window_segment>& segments,
                                       std::size_t block_size, std::size_t alignment,
                                       const chunk_grid& grid) {
  window_search search(segments, block_size, grid);
  for (std::size_t first = 0; first < segments.size();) {
    std::size_t last = first;
    while (last + 1 < segments.size() && segments[last + 1].base == segments[last].end) ++last;
    if (segments[last].end - segments[first].base >= block_size) {
      // The fewest missing chunks come with a window that starts or ends where a
      // segment does: try both at every edge.
      for (std::size_t i = first; i <= last; ++i) {
        for (const address edge : {segments[i].base, segments[i].end}) {
          const address up = align_up(edge, alignment);
          if (up >= edge) search.consider(first, last, up);
          if (edge - segments[first].base >= block_size) {
            search.consider(first, last, (edge - block_size) / alignment * alignment);
          }
        }
      }
    }
    first = last + 1;
  }
  return search.best();
}

}  // namespace vmm_pmr::detail
