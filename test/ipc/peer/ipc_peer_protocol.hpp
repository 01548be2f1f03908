// What the IPC tests and their peer program (ipc_peer) agree on: the command line,
// the one-byte messages that order their steps, the exit codes and the test pattern.
//
//   ipc_peer check                          "kernels: available" or
//                                           "kernels: unavailable: <why>"
//   ipc_peer host|cuda SCENARIO [DEVICE]    the socket to the test is fd 3
//
// Scenarios (each receives one exported allocation first, except `peers`):
//   write            import, write pattern(child_seed), send `written`, exit
//   read_after_free  import, drop its fds, send `imported`, wait for `go_on` (the test
//                    has freed its allocation), check pattern(parent_seed)
//   crash            import, write half, send `written`, abort()
//   write_read_only  import read-only, check it reads, send `imported`, then write:
//                    host: a plain store (SIGSEGV expected); cuda: a kernel (its error
//                    printed, exit 0 for cudaErrorIllegalAddress)
//   import_on_device import into a resource of DEVICE, fill with a kernel there
//                    (kernel_fill_value), send `written`
//   peers            no socket: memory of the last device, granted to every device,
//                    written by a kernel on each one
#pragma once

#include <cstddef>
#include <cstdint>

namespace vmm_pmr::test::ipc_peer {

inline constexpr int socket_fd = 3;

inline constexpr char imported = 'i';
inline constexpr char written = 'w';
inline constexpr char go_on = 'g';

inline constexpr int exit_ok = 0;
inline constexpr int exit_failed = 1;
inline constexpr int exit_usage = 2;
inline constexpr int exit_write_went_through = 3;
inline constexpr int exit_skipped = 77;  // Meson's "skipped" too; the reason is printed

inline constexpr std::uint8_t parent_seed = 17;
inline constexpr std::uint8_t child_seed = 101;
inline constexpr std::uint8_t crash_fill = 0xee;
inline constexpr std::uint8_t kernel_fill_value = 0x5a;

inline std::uint8_t pattern_byte(std::size_t index, std::uint8_t seed) {
  return static_cast<std::uint8_t>(index * 131 + seed + (index >> 12));
}

}  // namespace vmm_pmr::test::ipc_peer
