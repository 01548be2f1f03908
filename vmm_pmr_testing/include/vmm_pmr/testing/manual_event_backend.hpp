// Test double: a backend decorator whose events complete only when the test says so.
//
// Stream-ordering logic can then be tested without a GPU: an event recorded on stream A
// stays incomplete (GPU work still running on A) until complete(event) or
// complete_all(A), or at once while A is marked idle (no work in flight);
// synchronize_event() and synchronize_stream() stand for the host waiting and complete
// what they wait for. Every call advances a clock, so a test can tell whether a stream's
// work was known complete, or waited for, after a given moment (completed_through(),
// recorded_wait::recorded_at). Every stream_wait_event() is recorded, so a
// test can assert that stream B was made to wait for an event recorded on stream A, and
// begin_capture()/end_capture() make stream_is_capturing() answer like a stream
// capturing a CUDA graph. Misuse that the driver would turn into a captured graph node
// or an error (recording on a capturing stream, making a capturing stream wait, asking
// about an event recorded during capture) is counted in capture_violations().
// destroy_stream() makes a handle name no stream, as cuStreamDestroy does: the calls that
// take a stream then fail as the driver's do (CUDA_ERROR_CONTEXT_IS_DESTROYED), while the
// work queued on it still completes only when the test says so (or at
// synchronize_device()); create_stream() gives the handle to a new stream, with a new
// stream_serial().
//
// The VMM primitives are forwarded untouched; the event primitives never reach the
// inner backend. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include "vmm_pmr/backend/forwarding_backend.hpp"
#include "vmm_pmr/core/stream_view.hpp"

namespace vmm_pmr::testing {

// One stream_wait_event(waiting, event) call, and the state of the event at the time:
// the stream of its latest record (if it was ever recorded) and whether that completed.
struct recorded_wait {
  stream_view waiting;
  event_handle event = 0;
  bool event_was_recorded = false;
  stream_view recorded_on;
  std::uint64_t recorded_at = 0;  // clock() of that record
  bool event_was_complete = false;
  std::uint64_t at = 0;  // clock() of the wait
};

class manual_event_backend final : public forwarding_backend {
 public:
  using forwarding_backend::forwarding_backend;

  // Completes the event's latest record.
  void complete(event_handle event);
  // Completes every event whose latest record is on `stream`: its GPU work is done.
  void complete_all(stream_view stream);
  void complete_everything();
  // While idle, events recorded on `stream` complete at once (marking it idle completes
  // what was recorded on it too); busy is the default.
  void mark_idle(stream_view stream);
  void mark_busy(stream_view stream);

  // The stream is destroyed: its handle names no stream until create_stream(handle).
  void destroy_stream(stream_view stream);
  // A new stream gets this handle (the driver reuses the handles of destroyed streams).
  void create_stream(stream_view stream);

  void begin_capture(stream_view stream);
  void end_capture(stream_view stream);

  // Every stream_wait_event call so far, in order.
  std::vector<recorded_wait> waits() const;
  // Whether `waiting` was made to wait for an event recorded on `recorded_on`.
  bool waited(stream_view waiting, stream_view recorded_on) const;
  std::size_t records_on(stream_view stream) const;
  std::size_t live_events() const;
  // Calls of the event and stream primitives (create, destroy, record, query, the two
  // synchronizations, waits, capture queries): a path that must not reach the driver
  // leaves this unchanged.
  std::size_t stream_calls() const;
  std::size_t capture_violations() const;
  // Calls that block the host: synchronize_event, synchronize_stream, synchronize_device.
  std::size_t synchronizations() const;
  std::size_t device_synchronizations() const;
  // Advances by one with every call of an event or stream primitive.
  std::uint64_t clock() const;
  // The clock of the latest record on `stream` known complete (0: none): all work the
  // stream had before that moment is done.
  std::uint64_t completed_through(stream_view stream) const;

  event_handle create_event() override;
  void destroy_event(event_handle event) override;
  void record_event(event_handle event, stream_view stream) override;
  bool event_complete(event_handle event) override;
  void synchronize_event(event_handle event) override;
  void stream_wait_event(stream_view stream, event_handle event) override;
  void synchronize_stream(stream_view stream) override;
  bool stream_is_capturing(stream_view stream) override;
  std::optional<std::uint64_t> stream_serial(stream_view stream) override;
  void synchronize_device() override;

 private:
  struct event_state {
    bool recorded = false;
    stream_view stream;
    std::uint64_t recorded_at = 0;
    bool complete = true;
    bool recorded_during_capture = false;
  };

  event_state& find(event_handle event);  // throws driver_error for an unknown event
  void mark_complete(event_state& state);
  std::uint64_t tick();
  // Throws what the driver does for a call on a destroyed stream.
  void check_alive(stream_view stream, const char* call) const;

  mutable std::mutex mutex_;
  std::map<event_handle, event_state> events_;
  event_handle next_event_ = 1;
  std::vector<recorded_wait> waits_;
  std::map<std::uintptr_t, std::size_t> records_;  // by stream id
  std::set<std::uintptr_t> capturing_;
  std::set<std::uintptr_t> idle_;
  std::map<std::uintptr_t, std::uint64_t> completed_through_;
  std::uint64_t clock_ = 0;
  std::size_t synchronizations_ = 0;
  std::size_t capture_violations_ = 0;
  std::size_t device_synchronizations_ = 0;
  std::set<std::uintptr_t> destroyed_;
  // The serial of each handle given to a new stream by create_stream(); others: the handle.
  std::map<std::uintptr_t, std::uint64_t> serials_;
  std::uint64_t next_serial_ = std::uint64_t{1} << 48;
};

}  // namespace vmm_pmr::testing
