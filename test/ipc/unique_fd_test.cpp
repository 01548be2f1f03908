// unique_fd: exactly one owner closes each fd.
#include <catch2/catch_test_macros.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <utility>

#include "support/open_fds.hpp"
#include "vmm_pmr/ipc/unique_fd.hpp"

namespace {

bool is_open(int fd) { return fcntl(fd, F_GETFD) >= 0; }

int open_dev_null() { return open("/dev/null", O_RDONLY | O_CLOEXEC); }

}  // namespace

TEST_CASE("a unique_fd closes its fd when destroyed", "[unique_fd]") {
  const std::size_t before = vmm_pmr::test::count_open_fds();
  int raw = -1;
  {
    vmm_pmr::unique_fd fd(open_dev_null());
    raw = fd.get();
    REQUIRE(fd);
    CHECK(is_open(raw));
  }
  CHECK_FALSE(is_open(raw));
  CHECK(vmm_pmr::test::count_open_fds() == before);
}

TEST_CASE("reset closes the old fd and owns the new one", "[unique_fd]") {
  vmm_pmr::unique_fd fd(open_dev_null());
  const int first = fd.get();
  const int second = open_dev_null();
  fd.reset(second);
  CHECK_FALSE(is_open(first));
  CHECK(fd.get() == second);
  fd.reset();
  CHECK_FALSE(fd);
  CHECK_FALSE(is_open(second));
}

TEST_CASE("moving a unique_fd transfers ownership without closing", "[unique_fd]") {
  vmm_pmr::unique_fd source(open_dev_null());
  const int raw = source.get();
  vmm_pmr::unique_fd target(std::move(source));
  CHECK_FALSE(source);
  CHECK(target.get() == raw);
  vmm_pmr::unique_fd assigned;
  assigned = std::move(target);
  CHECK(assigned.get() == raw);
  CHECK(is_open(raw));
}

TEST_CASE("release gives the fd up without closing it", "[unique_fd]") {
  vmm_pmr::unique_fd fd(open_dev_null());
  const int raw = fd.release();
  CHECK_FALSE(fd);
  CHECK(is_open(raw));
  close(raw);
}
