// RAII: one event (cuEventCreate without timing / a number on the host backend),
// destroyed on destruction.
//
// Invariant: a non-empty event owns exactly one backend event, destroyed exactly once;
// moved-from events are empty. The backend must outlive it. An event that was never
// recorded is complete, as the driver's are.
#pragma once

#include <utility>

#include "vmm_pmr/backend/backend.hpp"
#include "vmm_pmr/core/stream_view.hpp"

namespace vmm_pmr {

class event {
 public:
  event() = default;
  explicit event(backend& owner) : backend_(&owner), handle_(owner.create_event()) {}

  event(const event&) = delete;
  event& operator=(const event&) = delete;
  event(event&& other) noexcept
      : backend_(std::exchange(other.backend_, nullptr)),
        handle_(std::exchange(other.handle_, 0)) {}
  event& operator=(event&& other) noexcept {
    if (this != &other) {
      reset();
      backend_ = std::exchange(other.backend_, nullptr);
      handle_ = std::exchange(other.handle_, 0);
    }
    return *this;
  }
  ~event() { reset(); }

  explicit operator bool() const noexcept { return backend_ != nullptr; }
  event_handle handle() const noexcept { return handle_; }

  // The event completes once the work submitted to `stream` so far has completed.
  void record(stream_view stream) { backend_->record_event(handle_, stream); }
  bool complete() const { return backend_->event_complete(handle_); }
  void synchronize() const { backend_->synchronize_event(handle_); }
  // Work submitted to `stream` from now on waits for this event's latest record.
  void make_stream_wait(stream_view stream) const { backend_->stream_wait_event(stream, handle_); }

 private:
  // Reports a failure through report_cleanup_error; never throws.
  void reset() noexcept;

  backend* backend_ = nullptr;
  event_handle handle_ = 0;
};

}  // namespace vmm_pmr
