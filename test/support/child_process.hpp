// Other processes for the IPC tests: the ipc_peer program (fork + exec), connected by
// a SOCK_SEQPACKET socket, and plain forked children that try one thing and die.
//
// A child that is still running when its child_process is destroyed is killed and
// reaped, so a failed REQUIRE never leaves a process behind.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "vmm_pmr/ipc/unique_fd.hpp"

namespace vmm_pmr::test {

struct child_outcome {
  int exit_code = -1;  // when it exited
  int signal = 0;      // when a signal killed it
  std::string output;  // its stdout and stderr
  bool exited() const { return signal == 0; }
  std::string describe() const;
};

class child_process {
 public:
  // Runs `program arguments...` with its end of a socketpair as fd `socket_fd_in_child`
  // (the arguments are expected to tell the program so) and its output captured.
  static child_process start(const std::string& program, const std::vector<std::string>& arguments,
                             int socket_fd_in_child);
  child_process(child_process&&) noexcept;
  child_process& operator=(child_process&&) = delete;
  ~child_process();

  int socket() const noexcept { return socket_.get(); }
  void send_byte(char byte) const;
  // The next byte from the child; 0 when it closed its end (exited) first.
  char receive_byte() const;
  // Waits for the child to end and collects its output.
  child_outcome wait();

 private:
  child_process(pid_t pid, unique_fd socket, unique_fd output);
  pid_t pid_ = -1;
  unique_fd socket_;
  unique_fd output_;
};

// Forks; the child runs `action` with SIGSEGV, SIGBUS and SIGABRT at their default
// actions (Catch2 installs handlers) and its stdout and stderr captured, and exits 0 if
// it returns. No exec: `action` must be simple (no locks another thread may hold, no
// allocation-heavy work).
child_outcome run_in_forked_child(const std::function<void()>& action);

}  // namespace vmm_pmr::test
