// Memory held over one replay of the churn trace, sampled for a chart.
//
// The trace is cut into `windows` runs of consecutive operations, and each window keeps
// the most bytes held at any point in it (after any of its operations), so a peak between
// two sample points is never lost: the line is the footprint's upper envelope. The x of a
// window is the number of operations done at its end. A few hundred windows keep a report
// small whatever the trace's length and still show where a method holds more than the
// trace has live, which is fragmentation.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "reports/report.hpp"
#include "workloads/churn_trace.hpp"

namespace vmm_pmr::bench {

class footprint_windows {
 public:
  footprint_windows(std::size_t operations, std::size_t windows)
      : per_window_((operations + windows - 1) / std::max<std::size_t>(windows, 1)),
        operations_(operations) {}

  // After operation `index` (0-based) the method held `bytes`.
  void record(std::size_t index, std::size_t bytes) {
    const std::size_t window = index / std::max<std::size_t>(per_window_, 1);
    if (window >= held_.size()) held_.resize(window + 1, 0);
    held_[window] = std::max(held_[window], static_cast<double>(bytes));
  }

  // Operations done at the end of each window: the same for every replay of one trace.
  std::vector<double> x() const {
    std::vector<double> ends;
    for (std::size_t w = 0; w < held_.size(); ++w) {
      ends.push_back(static_cast<double>(std::min((w + 1) * per_window_, operations_)));
    }
    return ends;
  }

  sampled_line line(std::string method, std::string label) const {
    return {std::move(method), std::move(label), held_};
  }

 private:
  std::size_t per_window_;
  std::size_t operations_;
  std::vector<double> held_;
};

// Replays `trace` once through allocate(bytes) -> T and release(T, bytes), reading
// held() after every operation; the replay is not timed.
template <typename Allocate, typename Release, typename Held>
footprint_windows replay_footprint(const churn_trace& trace, std::size_t windows, Allocate allocate,
                                   Release release, Held held) {
  using held_type = decltype(allocate(std::size_t{}));
  std::vector<held_type> slots(trace.slots);
  footprint_windows footprint(trace.operations.size(), windows);
  for (std::size_t i = 0; i < trace.operations.size(); ++i) {
    const trace_operation& op = trace.operations[i];
    if (op.allocate) {
      slots[op.slot] = allocate(op.bytes);
    } else {
      release(slots[op.slot], op.bytes);
    }
    footprint.record(i, held());
  }
  return footprint;
}

// The bytes the trace itself has live (requested), windowed like a method's footprint.
inline footprint_windows live_footprint(const churn_trace& trace, std::size_t windows) {
  std::size_t live = 0;
  return replay_footprint(
      trace, windows,
      [&live](std::size_t bytes) {
        live += bytes;
        return bytes;
      },
      [&live](std::size_t, std::size_t bytes) { live -= bytes; }, [&live] { return live; });
}

}  // namespace vmm_pmr::bench
