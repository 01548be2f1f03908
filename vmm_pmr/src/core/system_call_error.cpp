#include "core/system_call_error.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "vmm_pmr/core/error.hpp"

namespace vmm_pmr::detail {
namespace {

constexpr std::pair<int, const char*> errno_names[] = {
    {EPERM, "EPERM"},
    {ENOENT, "ENOENT"},
    {EINTR, "EINTR"},
    {EIO, "EIO"},
    {EBADF, "EBADF"},
    {EAGAIN, "EAGAIN"},
    {ENOMEM, "ENOMEM"},
    {EACCES, "EACCES"},
    {EFAULT, "EFAULT"},
    {EBUSY, "EBUSY"},
    {EEXIST, "EEXIST"},
    {ENODEV, "ENODEV"},
    {EINVAL, "EINVAL"},
    {ENFILE, "ENFILE"},
    {EMFILE, "EMFILE"},
    {ETXTBSY, "ETXTBSY"},
    {EFBIG, "EFBIG"},
    {ENOSPC, "ENOSPC"},
    {EPIPE, "EPIPE"},
    {ERANGE, "ERANGE"},
    {ENOSYS, "ENOSYS"},
    {EOVERFLOW, "EOVERFLOW"},
    {ENOTSOCK, "ENOTSOCK"},
    {EMSGSIZE, "EMSGSIZE"},
    {EOPNOTSUPP, "EOPNOTSUPP"},
    {ECONNRESET, "ECONNRESET"},
    {ENOBUFS, "ENOBUFS"},
    {ENOTCONN, "ENOTCONN"},
    {ETOOMANYREFS, "ETOOMANYREFS"},
};

}  // namespace

const char* errno_name(int code) noexcept {
  for (const auto& [value, name] : errno_names) {
    if (value == code) return name;
  }
  return nullptr;
}

void throw_system_call_error(const std::string& call, int code) {
  const char* name = errno_name(code);
  throw driver_error(call, name != nullptr ? name : fmt::format("errno {}", code), code,
                     std::strerror(code));
}

}  // namespace vmm_pmr::detail
