#include "support/child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace vmm_pmr::test {
namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

std::string read_all(int fd) {
  std::string text;
  std::array<char, 4096> buffer;
  for (;;) {
    const ssize_t got = read(fd, buffer.data(), buffer.size());
    if (got > 0) {
      text.append(buffer.data(), static_cast<std::size_t>(got));
    } else if (got == 0 || errno != EINTR) {
      return text;
    }
  }
}

child_outcome reap(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) fail("waitpid");
  }
  child_outcome outcome;
  if (WIFSIGNALED(status)) {
    outcome.signal = WTERMSIG(status);
  } else {
    outcome.exit_code = WEXITSTATUS(status);
  }
  return outcome;
}

}  // namespace

std::string child_outcome::describe() const {
  std::string text = exited() ? "exited with " + std::to_string(exit_code)
                              : std::string("killed by ") + strsignal(signal);
  return output.empty() ? text : text + "; output:\n" + output;
}

child_process child_process::start(const std::string& program,
                                   const std::vector<std::string>& arguments,
                                   int socket_fd_in_child) {
  int sockets[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sockets) != 0) fail("socketpair");
  unique_fd parent_end(sockets[0]);
  unique_fd child_end(sockets[1]);
  int output[2];
  if (pipe2(output, O_CLOEXEC) != 0) fail("pipe2");
  unique_fd output_read(output[0]);
  unique_fd output_write(output[1]);

  // Built before fork: the child may only make async-signal-safe calls.
  std::vector<std::string> owned{program};
  owned.insert(owned.end(), arguments.begin(), arguments.end());
  std::vector<char*> argv;
  for (std::string& argument : owned) argv.push_back(argument.data());
  argv.push_back(nullptr);

  const pid_t pid = fork();
  if (pid < 0) fail("fork");
  if (pid == 0) {
    dup2(output_write.get(), STDOUT_FILENO);
    dup2(output_write.get(), STDERR_FILENO);
    // dup2 clears close-on-exec on the copy; an fd already in place keeps it, so clear it.
    if (child_end.get() == socket_fd_in_child) {
      fcntl(socket_fd_in_child, F_SETFD, 0);
    } else {
      dup2(child_end.get(), socket_fd_in_child);
    }
    execv(program.c_str(), argv.data());
    _exit(127);
  }
  return child_process(pid, std::move(parent_end), std::move(output_read));
}

child_process::child_process(pid_t pid, unique_fd socket, unique_fd output)
    : pid_(pid), socket_(std::move(socket)), output_(std::move(output)) {}

child_process::child_process(child_process&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      socket_(std::move(other.socket_)),
      output_(std::move(other.output_)) {}

child_process::~child_process() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

void child_process::send_byte(char byte) const {
  while (send(socket_.get(), &byte, 1, MSG_NOSIGNAL) < 0) {
    if (errno != EINTR) fail("send to the child");
  }
}

char child_process::receive_byte() const {
  char byte = 0;
  for (;;) {
    const ssize_t got = recv(socket_.get(), &byte, 1, 0);
    if (got >= 0) return got == 0 ? '\0' : byte;
    if (errno != EINTR) fail("receive from the child");
  }
}

child_outcome child_process::wait() {
  socket_.reset();  // a child waiting for us sees end of file
  std::string output = read_all(output_.get());
  output_.reset();
  child_outcome outcome = reap(std::exchange(pid_, -1));
  outcome.output = std::move(output);
  return outcome;
}

child_outcome run_in_forked_child(const std::function<void()>& action) {
  int output[2];
  if (pipe2(output, O_CLOEXEC) != 0) fail("pipe2");
  unique_fd output_read(output[0]);
  unique_fd output_write(output[1]);
  const pid_t pid = fork();
  if (pid < 0) fail("fork");
  if (pid == 0) {
    dup2(output_write.get(), STDOUT_FILENO);
    dup2(output_write.get(), STDERR_FILENO);
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    signal(SIGABRT, SIG_DFL);
    action();
    _exit(0);
  }
  output_write.reset();  // the child's copies are the only writers left
  std::string text = read_all(output_read.get());
  child_outcome outcome = reap(pid);
  outcome.output = std::move(text);
  return outcome;
}

}  // namespace vmm_pmr::test
