// The IPC channel: one exported allocation per message over a Unix socket, its fds as
// SCM_RIGHTS. Both ends run in this process over a socketpair; fd ownership is checked
// by counting /proc/self/fd.
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/matchers/catch_matchers_exception.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "support/open_fds.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/ipc/ipc_channel.hpp"

using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::MessageMatches;
using vmm_pmr::test::count_open_fds;

namespace {

constexpr std::size_t chunk = std::size_t{2} << 20;

struct socket_pair {
  vmm_pmr::unique_fd sender;
  vmm_pmr::unique_fd receiver;
};

socket_pair make_socket_pair(int type) {
  int ends[2];
  REQUIRE(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, ends) == 0);
  return {vmm_pmr::unique_fd(ends[0]), vmm_pmr::unique_fd(ends[1])};
}

const char* type_name(int type) {
  return type == SOCK_STREAM      ? "SOCK_STREAM"
         : type == SOCK_SEQPACKET ? "SOCK_SEQPACKET"
                                  : "SOCK_DGRAM";
}

// A memfd of `size` bytes whose first byte is `tag`.
vmm_pmr::unique_fd make_memfd(std::size_t size, char tag) {
  vmm_pmr::unique_fd fd(memfd_create("ipc_channel_test", MFD_CLOEXEC));
  REQUIRE(fd);
  REQUIRE(ftruncate(fd.get(), static_cast<off_t>(size)) == 0);
  REQUIRE(pwrite(fd.get(), &tag, 1, 0) == 1);
  return fd;
}

char first_byte(int fd) {
  char tag = 0;
  REQUIRE(pread(fd, &tag, 1, 0) == 1);
  return tag;
}

bool same_file(int a, int b) {
  struct stat first {
  }, second{};
  REQUIRE(fstat(a, &first) == 0);
  REQUIRE(fstat(b, &second) == 0);
  return first.st_dev == second.st_dev && first.st_ino == second.st_ino;
}

vmm_pmr::shared_allocation_descriptor posix_fd_descriptor(std::size_t chunks) {
  vmm_pmr::shared_allocation_descriptor descriptor;
  descriptor.handle_type = vmm_pmr::handle_types::posix_fd;
  descriptor.granularity = chunk;
  descriptor.requested_bytes = chunks * chunk - 1;
  descriptor.chunk_sizes.assign(chunks, chunk);
  return descriptor;
}

vmm_pmr::exported_allocation memfd_allocation(std::size_t chunks) {
  vmm_pmr::exported_allocation allocation;
  allocation.descriptor = posix_fd_descriptor(chunks);
  for (std::size_t i = 0; i < chunks; ++i) {
    allocation.fds.push_back(make_memfd(chunk, static_cast<char>('a' + i)));
  }
  return allocation;
}

vmm_pmr::exported_allocation fabric_allocation(std::size_t chunks) {
  vmm_pmr::exported_allocation allocation;
  allocation.descriptor.handle_type = vmm_pmr::handle_types::fabric;
  allocation.descriptor.granularity = chunk;
  allocation.descriptor.requested_bytes = chunk;
  allocation.descriptor.chunk_sizes.assign(chunks, chunk);
  allocation.descriptor.fabric_handles.resize(chunks);
  allocation.descriptor.fabric_handles[0][0] = 42;
  return allocation;
}

// Sends `bytes` with `fds` attached, bypassing send_allocation's checks.
void send_raw(int socket, const std::vector<std::byte>& bytes, const std::vector<int>& fds) {
  iovec data{const_cast<std::byte*>(bytes.data()), bytes.size()};
  msghdr message{};
  message.msg_iov = &data;
  message.msg_iovlen = 1;
  std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
  if (!fds.empty()) {
    message.msg_control = control.data();
    message.msg_controllen = control.size();
    cmsghdr* rights = CMSG_FIRSTHDR(&message);
    rights->cmsg_level = SOL_SOCKET;
    rights->cmsg_type = SCM_RIGHTS;
    rights->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(rights), fds.data(), sizeof(int) * fds.size());
  }
  REQUIRE(sendmsg(socket, &message, MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size()));
}

// Sends `bytes` in one sendmsg per entry of `fds_per_piece` (equal pieces, the last
// takes the rest), each carrying that many copies of `fd`: how a peer puts more fds on
// one stream message than one sendmsg may carry.
void send_in_pieces(int socket, const std::vector<std::byte>& bytes,
                    const std::vector<std::size_t>& fds_per_piece, int fd) {
  const std::size_t piece = bytes.size() / fds_per_piece.size();
  for (std::size_t i = 0; i < fds_per_piece.size(); ++i) {
    const auto begin = bytes.begin() + static_cast<std::ptrdiff_t>(i * piece);
    const auto end = i + 1 == fds_per_piece.size() ? bytes.end() : begin + piece;
    send_raw(socket, std::vector<std::byte>(begin, end), std::vector<int>(fds_per_piece[i], fd));
  }
}

// The next message on the channel still arrives whole.
void check_next_message_arrives(const socket_pair& sockets) {
  const vmm_pmr::exported_allocation next = memfd_allocation(2);
  vmm_pmr::send_allocation(sockets.sender.get(), next);
  const vmm_pmr::exported_allocation received = vmm_pmr::receive_allocation(sockets.receiver.get());
  CHECK(received.descriptor == next.descriptor);
  CHECK(received.fds.size() == 2);
}

// Lowers this process's soft open-file limit so that exactly one more fd can be opened;
// restores it when destroyed.
class one_free_fd_slot {
 public:
  one_free_fd_slot() {
    REQUIRE(getrlimit(RLIMIT_NOFILE, &saved_) == 0);
    const int lowest_free = open("/dev/null", O_RDONLY | O_CLOEXEC);  // the lowest free number
    REQUIRE(lowest_free >= 0);
    close(lowest_free);
    rlimit lowered = saved_;
    lowered.rlim_cur = static_cast<rlim_t>(lowest_free) + 1;
    REQUIRE(setrlimit(RLIMIT_NOFILE, &lowered) == 0);
  }
  one_free_fd_slot(const one_free_fd_slot&) = delete;
  one_free_fd_slot& operator=(const one_free_fd_slot&) = delete;
  ~one_free_fd_slot() { setrlimit(RLIMIT_NOFILE, &saved_); }

 private:
  rlimit saved_{};
};

}  // namespace

TEST_CASE("an allocation sent over a socket arrives with its descriptor and its memory",
          "[ipc][channel]") {
  const int type = GENERATE(SOCK_SEQPACKET, SOCK_STREAM, SOCK_DGRAM);
  CAPTURE(type_name(type));
  const std::size_t fds_before = count_open_fds();
  {
    socket_pair sockets = make_socket_pair(type);
    const vmm_pmr::exported_allocation sent = memfd_allocation(3);
    vmm_pmr::send_allocation(sockets.sender.get(), sent);
    const vmm_pmr::exported_allocation received =
        vmm_pmr::receive_allocation(sockets.receiver.get());
    CHECK(received.descriptor == sent.descriptor);
    REQUIRE(received.fds.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
      CHECK(received.fds[i].get() != sent.fds[i].get());  // the receiver's own fds
      CHECK(same_file(received.fds[i].get(), sent.fds[i].get()));
      CHECK(first_byte(received.fds[i].get()) == static_cast<char>('a' + i));  // in chunk order
      CHECK((fcntl(received.fds[i].get(), F_GETFD) & FD_CLOEXEC) != 0);
    }
    for (const vmm_pmr::unique_fd& fd : sent.fds)
      CHECK(fcntl(fd.get(), F_GETFD) >= 0);  // still the sender's
  }
  CHECK(count_open_fds() == fds_before);
}

TEST_CASE("a fabric allocation travels without fds", "[ipc][channel]") {
  socket_pair sockets = make_socket_pair(SOCK_SEQPACKET);
  const vmm_pmr::exported_allocation sent = fabric_allocation(2);
  vmm_pmr::send_allocation(sockets.sender.get(), sent);
  const vmm_pmr::exported_allocation received = vmm_pmr::receive_allocation(sockets.receiver.get());
  CHECK(received.descriptor == sent.descriptor);
  CHECK(received.fds.empty());
}

TEST_CASE("messages sent back to back on a stream socket are received one at a time",
          "[ipc][channel]") {
  socket_pair sockets = make_socket_pair(SOCK_STREAM);
  const vmm_pmr::exported_allocation first = memfd_allocation(1);
  const vmm_pmr::exported_allocation second = memfd_allocation(2);
  vmm_pmr::send_allocation(sockets.sender.get(), first);
  vmm_pmr::send_allocation(sockets.sender.get(), second);
  const auto one = vmm_pmr::receive_allocation(sockets.receiver.get());
  const auto two = vmm_pmr::receive_allocation(sockets.receiver.get());
  CHECK(one.descriptor == first.descriptor);
  CHECK(one.fds.size() == 1);
  CHECK(two.descriptor == second.descriptor);
  REQUIRE(two.fds.size() == 2);
  CHECK(same_file(two.fds[1].get(), second.fds[1].get()));
}

TEST_CASE("a message whose fd count does not match its descriptor is refused and its fds closed",
          "[ipc][channel]") {
  const int type = GENERATE(SOCK_SEQPACKET, SOCK_STREAM);
  const std::size_t extra_fds = GENERATE(0, 2);  // 1 or 3 fds for 2 chunks
  CAPTURE(type_name(type), extra_fds);
  socket_pair sockets = make_socket_pair(type);
  const vmm_pmr::exported_allocation two_chunks = memfd_allocation(2);
  std::vector<int> fds{two_chunks.fds[0].get()};
  for (std::size_t i = 0; i < extra_fds; ++i) fds.push_back(two_chunks.fds[1].get());
  const std::size_t fds_before = count_open_fds();
  send_raw(sockets.sender.get(), two_chunks.descriptor.serialize(), fds);
  CHECK_THROWS_MATCHES(vmm_pmr::receive_allocation(sockets.receiver.get()),
                       vmm_pmr::invalid_argument,
                       MessageMatches(ContainsSubstring("carried " + std::to_string(fds.size()) +
                                                        " fds for a 2-chunk posix_fd descriptor") &&
                                      ContainsSubstring("all were closed")));
  CHECK(count_open_fds() == fds_before);
}

TEST_CASE("fds that arrive with a fabric descriptor are refused and closed", "[ipc][channel]") {
  socket_pair sockets = make_socket_pair(SOCK_SEQPACKET);
  const vmm_pmr::exported_allocation memory = memfd_allocation(1);
  const std::size_t fds_before = count_open_fds();
  send_raw(sockets.sender.get(), fabric_allocation(1).descriptor.serialize(),
           {memory.fds[0].get()});
  CHECK_THROWS_WITH(vmm_pmr::receive_allocation(sockets.receiver.get()),
                    ContainsSubstring("carried 1 fds for a 1-chunk fabric descriptor"));
  CHECK(count_open_fds() == fds_before);
}

TEST_CASE("a malformed descriptor is refused and the fds that came with it closed",
          "[ipc][channel]") {
  const int type = GENERATE(SOCK_SEQPACKET, SOCK_STREAM);
  CAPTURE(type_name(type));
  socket_pair sockets = make_socket_pair(type);
  const vmm_pmr::exported_allocation memory = memfd_allocation(1);
  std::vector<std::byte> garbage = memory.descriptor.serialize();
  garbage[0] = std::byte{'X'};
  const std::size_t fds_before = count_open_fds();
  send_raw(sockets.sender.get(), garbage, {memory.fds[0].get()});
  CHECK_THROWS_MATCHES(
      vmm_pmr::receive_allocation(sockets.receiver.get()), vmm_pmr::invalid_argument,
      MessageMatches(ContainsSubstring("bad magic") && ContainsSubstring("all closed")));
  CHECK(count_open_fds() == fds_before);
}

TEST_CASE("a record too short for a descriptor is refused as truncated", "[ipc][channel]") {
  socket_pair sockets = make_socket_pair(SOCK_SEQPACKET);
  std::vector<std::byte> bytes = memfd_allocation(2).descriptor.serialize();
  bytes.resize(bytes.size() - 8);
  send_raw(sockets.sender.get(), bytes, {});
  CHECK_THROWS_MATCHES(vmm_pmr::receive_allocation(sockets.receiver.get()),
                       vmm_pmr::invalid_argument, MessageMatches(ContainsSubstring("truncated")));
}

TEST_CASE("a stream that ends in the middle of a message is reported as truncated",
          "[ipc][channel]") {
  socket_pair sockets = make_socket_pair(SOCK_STREAM);
  std::vector<std::byte> bytes = memfd_allocation(2).descriptor.serialize();
  bytes.resize(40);
  send_raw(sockets.sender.get(), bytes, {});
  sockets.sender.reset();
  CHECK_THROWS_MATCHES(vmm_pmr::receive_allocation(sockets.receiver.get()),
                       vmm_pmr::invalid_argument,
                       MessageMatches(ContainsSubstring("truncated: the peer closed the connection "
                                                        "after 40 of 48 B")));
}

TEST_CASE("an empty record is refused, not taken for the peer closing", "[ipc][channel]") {
  const bool peer_closes = GENERATE(false, true);
  CAPTURE(peer_closes);
  socket_pair sockets = make_socket_pair(SOCK_SEQPACKET);
  const vmm_pmr::exported_allocation sent = memfd_allocation(1);
  send_raw(sockets.sender.get(), {}, {});
  vmm_pmr::send_allocation(sockets.sender.get(), sent);
  if (peer_closes) sockets.sender.reset();
  CHECK_THROWS_MATCHES(vmm_pmr::receive_allocation(sockets.receiver.get()),
                       vmm_pmr::invalid_argument,
                       MessageMatches(ContainsSubstring("malformed message (0 B, 0 fds")));
  CHECK(vmm_pmr::receive_allocation(sockets.receiver.get()).descriptor == sent.descriptor);
  if (peer_closes) {
    CHECK_THROWS_WITH(vmm_pmr::receive_allocation(sockets.receiver.get()),
                      ContainsSubstring("peer closed the connection"));
  }
}

TEST_CASE("end of file before a message is reported as the peer closing", "[ipc][channel]") {
  const int type = GENERATE(SOCK_SEQPACKET, SOCK_STREAM);
  CAPTURE(type_name(type));
  socket_pair sockets = make_socket_pair(type);
  sockets.sender.reset();
  CHECK_THROWS_MATCHES(vmm_pmr::receive_allocation(sockets.receiver.get()), vmm_pmr::error,
                       MessageMatches(ContainsSubstring("peer closed the connection")));
}

TEST_CASE("send refuses what it cannot send, before sending anything", "[ipc][channel]") {
  socket_pair sockets = make_socket_pair(SOCK_SEQPACKET);
  SECTION("an fd missing") {
    vmm_pmr::exported_allocation allocation = memfd_allocation(2);
    allocation.fds.pop_back();
    CHECK_THROWS_WITH(vmm_pmr::send_allocation(sockets.sender.get(), allocation),
                      ContainsSubstring("1 fds for a 2-chunk posix_fd descriptor (expected 2)"));
  }
  SECTION("a closed fd") {
    vmm_pmr::exported_allocation allocation = memfd_allocation(2);
    allocation.fds[1].reset();
    CHECK_THROWS_WITH(vmm_pmr::send_allocation(sockets.sender.get(), allocation),
                      ContainsSubstring("the fd of chunk 1 (-1) is not an open file descriptor"));
  }
  SECTION("more fds than one message carries") {
    vmm_pmr::exported_allocation allocation;
    allocation.descriptor.granularity = 4096;
    allocation.descriptor.requested_bytes = 4096;
    allocation.descriptor.chunk_sizes.assign(vmm_pmr::max_fds_per_message + 1, 4096);
    vmm_pmr::unique_fd null(open("/dev/null", O_RDONLY | O_CLOEXEC));
    for (std::size_t i = 0; i <= vmm_pmr::max_fds_per_message; ++i) {
      allocation.fds.emplace_back(fcntl(null.get(), F_DUPFD_CLOEXEC, 0));
    }
    CHECK_THROWS_MATCHES(vmm_pmr::send_allocation(sockets.sender.get(), allocation),
                         vmm_pmr::invalid_argument,
                         MessageMatches(ContainsSubstring("254 fds, more than one message carries "
                                                          "(253, Linux's SCM_MAX_FD)")));
  }
  SECTION("a descriptor larger than one message") {
    const vmm_pmr::exported_allocation allocation = fabric_allocation(1000);
    CHECK_THROWS_WITH(vmm_pmr::send_allocation(sockets.sender.get(), allocation),
                      ContainsSubstring("more than one message carries (65536 B)"));
  }
  SECTION("an inconsistent descriptor") {
    vmm_pmr::exported_allocation allocation = memfd_allocation(1);
    allocation.descriptor.requested_bytes = 0;
    CHECK_THROWS_AS(vmm_pmr::send_allocation(sockets.sender.get(), allocation),
                    vmm_pmr::invalid_argument);
  }
  // Nothing was sent: the receiver sees end of file once the sender is gone.
  sockets.sender.reset();
  CHECK_THROWS_WITH(vmm_pmr::receive_allocation(sockets.receiver.get()),
                    ContainsSubstring("peer closed"));
}

TEST_CASE("a stream message whose header announces more than the limit is refused unread",
          "[ipc][channel]") {
  socket_pair sockets = make_socket_pair(SOCK_STREAM);
  const std::vector<std::byte> bytes = fabric_allocation(1000).descriptor.serialize();
  send_raw(sockets.sender.get(), std::vector<std::byte>(bytes.begin(), bytes.begin() + 32), {});
  CHECK_THROWS_WITH(vmm_pmr::receive_allocation(sockets.receiver.get()),
                    ContainsSubstring("72032 B descriptor exceeds the 65536 B limit"));
}

TEST_CASE("a datagram larger than the limit is refused", "[ipc][channel]") {
  socket_pair sockets = make_socket_pair(SOCK_DGRAM);
  const int buffer = 1 << 20;
  setsockopt(sockets.sender.get(), SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
  send_raw(sockets.sender.get(), std::vector<std::byte>(vmm_pmr::max_message_bytes + 100), {});
  CHECK_THROWS_WITH(vmm_pmr::receive_allocation(sockets.receiver.get()),
                    ContainsSubstring("exceeds the 65536 B limit"));
}

TEST_CASE("a socket failure is a driver_error naming the call and errno", "[ipc][channel]") {
  int pipe_ends[2];
  REQUIRE(pipe2(pipe_ends, O_CLOEXEC) == 0);
  vmm_pmr::unique_fd read_end(pipe_ends[0]), write_end(pipe_ends[1]);
  CHECK_THROWS_MATCHES(
      vmm_pmr::receive_allocation(read_end.get()), vmm_pmr::driver_error,
      MessageMatches(ContainsSubstring("getsockopt") && ContainsSubstring("ENOTSOCK")));
  CHECK_THROWS_MATCHES(vmm_pmr::send_allocation(write_end.get(), memfd_allocation(1)),
                       vmm_pmr::driver_error, MessageMatches(ContainsSubstring("ENOTSOCK")));
}

TEST_CASE("sending to a closed peer is an EPIPE error, not a SIGPIPE", "[ipc][channel]") {
  socket_pair sockets = make_socket_pair(SOCK_STREAM);
  sockets.receiver.reset();
  CHECK_THROWS_MATCHES(vmm_pmr::send_allocation(sockets.sender.get(), memfd_allocation(1)),
                       vmm_pmr::driver_error, MessageMatches(ContainsSubstring("EPIPE")));
}

namespace {

extern "C" void ignore_alarm(int) {}

}  // namespace

TEST_CASE("a signal that interrupts receive does not lose the message", "[ipc][channel]") {
  socket_pair sockets = make_socket_pair(SOCK_SEQPACKET);
  struct sigaction interrupting {
  }, previous{};
  interrupting.sa_handler = ignore_alarm;  // no SA_RESTART: recvmsg fails with EINTR
  sigemptyset(&interrupting.sa_mask);
  REQUIRE(sigaction(SIGALRM, &interrupting, &previous) == 0);

  // The sender thread blocks SIGALRM, so the signal interrupts the receiving thread.
  sigset_t alarm_only;
  sigemptyset(&alarm_only);
  sigaddset(&alarm_only, SIGALRM);
  pthread_sigmask(SIG_BLOCK, &alarm_only, nullptr);
  const vmm_pmr::exported_allocation sent = memfd_allocation(1);
  std::thread sender([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    vmm_pmr::send_allocation(sockets.sender.get(), sent);
  });
  pthread_sigmask(SIG_UNBLOCK, &alarm_only, nullptr);

  itimerval every_50_ms{{0, 50'000}, {0, 50'000}};
  setitimer(ITIMER_REAL, &every_50_ms, nullptr);
  vmm_pmr::exported_allocation received;
  CHECK_NOTHROW(received = vmm_pmr::receive_allocation(sockets.receiver.get()));
  itimerval off{};
  setitimer(ITIMER_REAL, &off, nullptr);
  sender.join();
  sigaction(SIGALRM, &previous, nullptr);
  CHECK(received.descriptor == sent.descriptor);
  CHECK(received.fds.size() == 1);
}

TEST_CASE("a non-blocking socket waits for the message instead of failing", "[ipc][channel]") {
  socket_pair sockets = make_socket_pair(SOCK_STREAM);
  REQUIRE(fcntl(sockets.receiver.get(), F_SETFL, O_NONBLOCK) == 0);
  const vmm_pmr::exported_allocation sent = memfd_allocation(2);
  std::thread sender([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    vmm_pmr::send_allocation(sockets.sender.get(), sent);
  });
  const vmm_pmr::exported_allocation received = vmm_pmr::receive_allocation(sockets.receiver.get());
  sender.join();
  CHECK(received.descriptor == sent.descriptor);
}

// A hostile or broken peer: fds beyond what one message may carry, fds on messages that
// are too large or cut short. Every fd that reaches this process must be closed again.

TEST_CASE("a stream message carrying more than 253 fds is refused, every fd closed",
          "[ipc][channel]") {
  // Linux refuses more than 253 fds in one sendmsg, so the peer attaches them to several
  // pieces of one message; recvmsg hands them over piece by piece.
  const std::vector<std::size_t> fds_per_piece =
      GENERATE(std::vector<std::size_t>{253, 1}, std::vector<std::size_t>{253, 253, 253});
  const std::size_t fds =
      std::accumulate(fds_per_piece.begin(), fds_per_piece.end(), std::size_t{0});
  CAPTURE(fds);
  socket_pair sockets = make_socket_pair(SOCK_STREAM);
  const vmm_pmr::unique_fd memory = make_memfd(chunk, 'm');
  const std::size_t fds_before = count_open_fds();
  send_in_pieces(sockets.sender.get(), posix_fd_descriptor(fds).serialize(), fds_per_piece,
                 memory.get());
  CHECK_THROWS_MATCHES(vmm_pmr::receive_allocation(sockets.receiver.get()),
                       vmm_pmr::invalid_argument,
                       MessageMatches(ContainsSubstring("carried " + std::to_string(fds) +
                                                        " fds, more than one message may (253") &&
                                      ContainsSubstring("all were closed")));
  CHECK(count_open_fds() == fds_before);
  check_next_message_arrives(sockets);
}

TEST_CASE("a descriptor split across records, fds on each, is refused record by record",
          "[ipc][channel]") {
  const int type = GENERATE(SOCK_SEQPACKET, SOCK_DGRAM);
  CAPTURE(type_name(type));
  socket_pair sockets = make_socket_pair(type);
  const vmm_pmr::unique_fd memory = make_memfd(chunk, 'm');
  const std::size_t fds_before = count_open_fds();
  send_in_pieces(sockets.sender.get(), posix_fd_descriptor(254).serialize(), {253, 1},
                 memory.get());
  CHECK_THROWS_MATCHES(vmm_pmr::receive_allocation(sockets.receiver.get()),
                       vmm_pmr::invalid_argument,
                       MessageMatches(ContainsSubstring("(1032 B, 253 fds, all closed)") &&
                                      ContainsSubstring("truncated")));
  CHECK_THROWS_MATCHES(vmm_pmr::receive_allocation(sockets.receiver.get()),
                       vmm_pmr::invalid_argument,
                       MessageMatches(ContainsSubstring("(1032 B, 1 fds, all closed)") &&
                                      ContainsSubstring("bad magic")));
  CHECK(count_open_fds() == fds_before);
  check_next_message_arrives(sockets);
}

TEST_CASE("a message over the size limit that carries fds is refused, its fds closed",
          "[ipc][channel]") {
  const int type = GENERATE(SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM);
  CAPTURE(type_name(type));
  socket_pair sockets = make_socket_pair(type);
  const int buffer = 1 << 20;
  setsockopt(sockets.sender.get(), SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
  const vmm_pmr::unique_fd memory = make_memfd(chunk, 'm');
  const std::size_t fds_before = count_open_fds();
  send_raw(sockets.sender.get(), fabric_allocation(1000).descriptor.serialize(),
           {memory.get(), memory.get(), memory.get()});
  if (type == SOCK_STREAM) {
    // Refused from its header, the rest unread: the stream cannot go on.
    CHECK_THROWS_MATCHES(
        vmm_pmr::receive_allocation(sockets.receiver.get()), vmm_pmr::invalid_argument,
        MessageMatches(ContainsSubstring("72032 B descriptor exceeds the 65536 B limit of one "
                                         "message (3 fds, all closed)") &&
                       ContainsSubstring("the stream is out of step, close the connection")));
    CHECK(count_open_fds() == fds_before);
  } else {
    CHECK_THROWS_MATCHES(vmm_pmr::receive_allocation(sockets.receiver.get()),
                         vmm_pmr::invalid_argument,
                         MessageMatches(ContainsSubstring("exceeds the 65536 B limit (3 fds, all "
                                                          "closed)")));
    CHECK(count_open_fds() == fds_before);
    check_next_message_arrives(sockets);
  }
}

TEST_CASE("a truncated message that carries fds is refused, its fds closed", "[ipc][channel]") {
  const int type = GENERATE(SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM);
  CAPTURE(type_name(type));
  socket_pair sockets = make_socket_pair(type);
  const vmm_pmr::unique_fd memory = make_memfd(chunk, 'm');
  std::vector<std::byte> truncated = posix_fd_descriptor(2).serialize();
  truncated.resize(40);
  const std::size_t fds_before = count_open_fds();
  if (type == SOCK_STREAM) {
    send_in_pieces(sockets.sender.get(), truncated, {1, 1}, memory.get());
    REQUIRE(shutdown(sockets.sender.get(), SHUT_WR) == 0);
    CHECK_THROWS_MATCHES(vmm_pmr::receive_allocation(sockets.receiver.get()),
                         vmm_pmr::invalid_argument,
                         MessageMatches(ContainsSubstring("truncated: the peer closed the "
                                                          "connection after 40 of 48 B (2 fds, "
                                                          "all closed)")));
    CHECK(count_open_fds() == fds_before);
    CHECK_THROWS_WITH(vmm_pmr::receive_allocation(sockets.receiver.get()),
                      ContainsSubstring("peer closed the connection"));
  } else {
    send_raw(sockets.sender.get(), truncated, {memory.get(), memory.get()});
    CHECK_THROWS_MATCHES(vmm_pmr::receive_allocation(sockets.receiver.get()),
                         vmm_pmr::invalid_argument,
                         MessageMatches(ContainsSubstring("(40 B, 2 fds, all closed)") &&
                                        ContainsSubstring("truncated")));
    CHECK(count_open_fds() == fds_before);
    check_next_message_arrives(sockets);
  }
}

TEST_CASE("fds the kernel drops at the open-file limit are reported, the others closed",
          "[ipc][channel]") {
  const int type = GENERATE(SOCK_STREAM, SOCK_SEQPACKET);
  CAPTURE(type_name(type));
  socket_pair sockets = make_socket_pair(type);
  const vmm_pmr::exported_allocation sent = memfd_allocation(3);
  vmm_pmr::send_allocation(sockets.sender.get(), sent);
  const std::size_t fds_before = count_open_fds();
  {
    // Room for one of the three: the kernel installs it, drops two, sets MSG_CTRUNC.
    const one_free_fd_slot limit;
    CHECK_THROWS_MATCHES(
        vmm_pmr::receive_allocation(sockets.receiver.get()), vmm_pmr::invalid_argument,
        MessageMatches(ContainsSubstring("MSG_CTRUNC") && ContainsSubstring("RLIMIT_NOFILE") &&
                       ContainsSubstring("the 1 that arrived were closed")));
  }
  CHECK(count_open_fds() == fds_before);
  check_next_message_arrives(sockets);
}
