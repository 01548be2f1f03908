// Counts this process's open file descriptors, for fd-leak checks: take the count
// before an operation and compare after it.
#pragma once

#include <dirent.h>

#include <cstddef>

namespace vmm_pmr::test {

// The entries of /proc/self/fd (the directory's own fd is open while it is read, in
// every call alike, so counts compare).
inline std::size_t count_open_fds() {
  DIR* directory = opendir("/proc/self/fd");
  if (directory == nullptr) return 0;
  std::size_t count = 0;
  while (const dirent* entry = readdir(directory)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(directory);
  return count;
}

}  // namespace vmm_pmr::test
