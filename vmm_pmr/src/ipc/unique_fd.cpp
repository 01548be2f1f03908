// unique_fd: the one place that closes a file descriptor the library owns.
#include "vmm_pmr/ipc/unique_fd.hpp"

#include <unistd.h>

namespace vmm_pmr {

void unique_fd::reset(int fd) noexcept {
  const int previous = std::exchange(fd_, fd);
  // Never retried on EINTR: Linux has closed the fd by then, and a retry could close
  // an fd another thread has just been given.
  if (previous >= 0 && previous != fd) ::close(previous);
}

}  // namespace vmm_pmr
