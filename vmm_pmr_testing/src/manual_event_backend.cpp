#include "vmm_pmr/testing/manual_event_backend.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "vmm_pmr/core/error.hpp"

namespace vmm_pmr::testing {

manual_event_backend::event_state& manual_event_backend::find(event_handle event) {
  const auto found = events_.find(event);
  if (found == events_.end()) {
    throw driver_error(fmt::format("manual_event_backend: event {}", event), "unknown event", 0,
                       "never created, or already destroyed");
  }
  return found->second;
}

void manual_event_backend::mark_complete(event_state& state) {
  state.complete = true;
  if (!state.recorded) return;
  std::uint64_t& through = completed_through_[state.stream.id()];
  through = std::max(through, state.recorded_at);
}

std::uint64_t manual_event_backend::tick() { return ++clock_; }

void manual_event_backend::check_alive(stream_view stream, const char* call) const {
  if (destroyed_.count(stream.id()) == 0) return;
  throw driver_error(fmt::format("{}({})", call, to_string(stream)),
                     "CUDA_ERROR_CONTEXT_IS_DESTROYED", 709,
                     "manual_event_backend: the stream was destroyed");
}

void manual_event_backend::destroy_stream(stream_view stream) {
  std::lock_guard lock(mutex_);
  destroyed_.insert(stream.id());
}

void manual_event_backend::create_stream(stream_view stream) {
  std::lock_guard lock(mutex_);
  destroyed_.erase(stream.id());
  serials_[stream.id()] = next_serial_++;
}

void manual_event_backend::complete(event_handle event) {
  std::lock_guard lock(mutex_);
  mark_complete(find(event));
}

void manual_event_backend::complete_all(stream_view stream) {
  std::lock_guard lock(mutex_);
  for (auto& [handle, state] : events_) {
    if (state.recorded && state.stream == stream) mark_complete(state);
  }
}

void manual_event_backend::complete_everything() {
  std::lock_guard lock(mutex_);
  for (auto& [handle, state] : events_) mark_complete(state);
}

void manual_event_backend::mark_idle(stream_view stream) {
  std::lock_guard lock(mutex_);
  idle_.insert(stream.id());
  for (auto& [handle, state] : events_) {
    if (state.recorded && state.stream == stream) mark_complete(state);
  }
}

void manual_event_backend::mark_busy(stream_view stream) {
  std::lock_guard lock(mutex_);
  idle_.erase(stream.id());
}

void manual_event_backend::begin_capture(stream_view stream) {
  std::lock_guard lock(mutex_);
  capturing_.insert(stream.id());
}

void manual_event_backend::end_capture(stream_view stream) {
  std::lock_guard lock(mutex_);
  capturing_.erase(stream.id());
}

std::vector<recorded_wait> manual_event_backend::waits() const {
  std::lock_guard lock(mutex_);
  return waits_;
}

bool manual_event_backend::waited(stream_view waiting, stream_view recorded_on) const {
  std::lock_guard lock(mutex_);
  return std::any_of(waits_.begin(), waits_.end(), [&](const recorded_wait& wait) {
    return wait.waiting == waiting && wait.event_was_recorded && wait.recorded_on == recorded_on;
  });
}

std::size_t manual_event_backend::records_on(stream_view stream) const {
  std::lock_guard lock(mutex_);
  const auto found = records_.find(stream.id());
  return found == records_.end() ? 0 : found->second;
}

std::size_t manual_event_backend::live_events() const {
  std::lock_guard lock(mutex_);
  return events_.size();
}

std::size_t manual_event_backend::stream_calls() const {
  std::lock_guard lock(mutex_);
  return clock_;
}

std::size_t manual_event_backend::capture_violations() const {
  std::lock_guard lock(mutex_);
  return capture_violations_;
}

std::size_t manual_event_backend::synchronizations() const {
  std::lock_guard lock(mutex_);
  return synchronizations_;
}

std::size_t manual_event_backend::device_synchronizations() const {
  std::lock_guard lock(mutex_);
  return device_synchronizations_;
}

std::uint64_t manual_event_backend::clock() const {
  std::lock_guard lock(mutex_);
  return clock_;
}

std::uint64_t manual_event_backend::completed_through(stream_view stream) const {
  std::lock_guard lock(mutex_);
  const auto found = completed_through_.find(stream.id());
  return found == completed_through_.end() ? 0 : found->second;
}

event_handle manual_event_backend::create_event() {
  std::lock_guard lock(mutex_);
  tick();
  const event_handle event = next_event_++;
  events_.emplace(event, event_state{});
  return event;
}

void manual_event_backend::destroy_event(event_handle event) {
  std::lock_guard lock(mutex_);
  tick();
  find(event);
  events_.erase(event);
}

void manual_event_backend::record_event(event_handle event, stream_view stream) {
  std::lock_guard lock(mutex_);
  const std::uint64_t now = tick();
  check_alive(stream, "cuEventRecord");
  event_state& state = find(event);
  const bool capturing = capturing_.count(stream.id()) != 0;
  if (capturing) ++capture_violations_;
  state = {.recorded = true,
           .stream = stream,
           .recorded_at = now,
           .complete = false,
           .recorded_during_capture = capturing};
  ++records_[stream.id()];
  if (!capturing && idle_.count(stream.id()) != 0) mark_complete(state);
}

bool manual_event_backend::event_complete(event_handle event) {
  std::lock_guard lock(mutex_);
  tick();
  const event_state& state = find(event);
  if (state.recorded_during_capture) ++capture_violations_;
  return state.complete;
}

void manual_event_backend::synchronize_event(event_handle event) {
  std::lock_guard lock(mutex_);
  tick();
  ++synchronizations_;
  event_state& state = find(event);
  if (state.recorded_during_capture) ++capture_violations_;
  mark_complete(state);
}

void manual_event_backend::stream_wait_event(stream_view stream, event_handle event) {
  std::lock_guard lock(mutex_);
  const std::uint64_t now = tick();
  check_alive(stream, "cuStreamWaitEvent");
  const event_state& state = find(event);
  if (capturing_.count(stream.id()) != 0 || state.recorded_during_capture) ++capture_violations_;
  waits_.push_back({.waiting = stream,
                    .event = event,
                    .event_was_recorded = state.recorded,
                    .recorded_on = state.stream,
                    .recorded_at = state.recorded_at,
                    .event_was_complete = state.complete,
                    .at = now});
}

void manual_event_backend::synchronize_stream(stream_view stream) {
  std::lock_guard lock(mutex_);
  const std::uint64_t now = tick();
  check_alive(stream, "cuStreamSynchronize");
  ++synchronizations_;
  if (capturing_.count(stream.id()) != 0) ++capture_violations_;
  for (auto& [handle, state] : events_) {
    if (state.recorded && state.stream == stream) mark_complete(state);
  }
  completed_through_[stream.id()] = now;
}

bool manual_event_backend::stream_is_capturing(stream_view stream) {
  std::lock_guard lock(mutex_);
  tick();
  check_alive(stream, "cuStreamIsCapturing");
  return capturing_.count(stream.id()) != 0;
}

std::optional<std::uint64_t> manual_event_backend::stream_serial(stream_view stream) {
  std::lock_guard lock(mutex_);
  tick();
  if (destroyed_.count(stream.id()) != 0) return std::nullopt;
  const auto found = serials_.find(stream.id());
  return found == serials_.end() ? stream.id() : found->second;
}

void manual_event_backend::synchronize_device() {
  std::lock_guard lock(mutex_);
  const std::uint64_t now = tick();
  ++synchronizations_;
  ++device_synchronizations_;
  for (auto& [handle, state] : events_) mark_complete(state);
  for (const auto& [stream, records] : records_) completed_through_[stream] = now;
}

}  // namespace vmm_pmr::testing
