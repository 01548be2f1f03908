// driver_error for a failed system call: the call, errno's name ("EBADF") and its words.
//
// Internal to the library (not installed): the IPC channel and anything else that
// talks to the kernel directly report failures the way the backends do.
#pragma once

#include <string>

namespace vmm_pmr::detail {

// "EBADF" for the common values, nullptr for the others.
const char* errno_name(int code) noexcept;

[[noreturn]] void throw_system_call_error(const std::string& call, int code);

}  // namespace vmm_pmr::detail
