// Process exit with live allocations: clean exit status, nothing on stderr.
#include <catch2/catch_test_macros.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <string>

#include "support/backends_under_test.hpp"

namespace {

struct finished_process {
  int exit_status = -1;
  std::string standard_error;
};

// Runs the helper program with `argument`, collecting its stderr.
finished_process run_exit_helper(const char* argument) {
  int pipe_ends[2];
  REQUIRE(pipe(pipe_ends) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    dup2(pipe_ends[1], STDERR_FILENO);
    close(pipe_ends[0]);
    close(pipe_ends[1]);
    execl(VMM_PMR_EXIT_HELPER, VMM_PMR_EXIT_HELPER, argument, static_cast<char*>(nullptr));
    _exit(127);
  }
  close(pipe_ends[1]);
  finished_process result;
  std::array<char, 4096> buffer;
  ssize_t got = 0;
  while ((got = read(pipe_ends[0], buffer.data(), buffer.size())) > 0) {
    result.standard_error.append(buffer.data(), static_cast<std::size_t>(got));
  }
  close(pipe_ends[0]);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  result.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace

BACKEND_TEST_CASE("a process that exits with live allocations exits cleanly and quietly",
                  "[process_exit]") {
  (void)TestType::make();  // skips without a GPU
  const finished_process result = run_exit_helper(TestType::is_gpu ? "cuda" : "host");
  CHECK(result.exit_status == 0);
  CHECK(result.standard_error.empty());
}
