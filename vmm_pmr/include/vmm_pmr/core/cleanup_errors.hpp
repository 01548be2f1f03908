// Failures while undoing driver objects.
//
// Unmapping, freeing a reservation and releasing physical memory happen in
// destructors and in std::pmr's deallocate, which must not throw. When such a call
// fails, the handle layer reports it here exactly once and carries on: the object is
// considered gone from the library's point of view (the driver may have leaked it).
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <string>

namespace vmm_pmr {

using cleanup_error_handler = std::function<void(const std::string& message)>;

// Replaces the process-wide handler and returns the previous one. The default
// writes one line to stderr.
cleanup_error_handler set_cleanup_error_handler(cleanup_error_handler handler);

// Reports `failure` while undoing `what` ("unmap 0x7f.. (2 MiB)"). Never throws.
void report_cleanup_error(const std::string& what, const std::exception& failure) noexcept;

// Cleanup failures reported since the process started.
std::size_t cleanup_error_count() noexcept;

}  // namespace vmm_pmr
