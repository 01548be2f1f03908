// This thread's last error, and the guard every C entry point runs its body in: no
// exception crosses the C interface; each becomes a message in vmm_pmr_last_error().
#pragma once

#include <exception>
#include <new>
#include <string>
#include <string_view>
#include <utility>

namespace vmm_pmr::c_interface {

void set_last_error(std::string message) noexcept;

// "<call> failed: <what>; <what to do>" for the exception in flight.
void set_last_error_from_current_exception(std::string_view call) noexcept;

// Runs `body`; on an exception, sets the last error naming `call` (a callable returning
// the call as made, so that it is formatted only on failure) and returns `failed`.
template <typename Call, typename Body, typename Result>
Result guarded(Call&& call, Body&& body, Result failed) noexcept {
  try {
    return std::forward<Body>(body)();
  } catch (...) {
    try {
      set_last_error_from_current_exception(call());
    } catch (...) {
      set_last_error_from_current_exception("a vmm_pmr call");
    }
    return failed;
  }
}

}  // namespace vmm_pmr::c_interface
