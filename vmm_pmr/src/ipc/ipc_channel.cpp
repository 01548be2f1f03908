// One exported allocation per message over a Unix domain socket (sendmsg / recvmsg with
// SCM_RIGHTS).
//
// The receiving side is where fds leak if anything is careless: the kernel installs
// every passed fd in this process the moment recvmsg returns, whatever happens next. So
// each recvmsg's fds go straight into an fd_inbox (fixed capacity, no allocation, cannot
// throw) that closes them unless the whole message turns out well-formed; fds beyond
// its capacity are closed at once. MSG_CMSG_CLOEXEC keeps them from leaking into
// programs this process starts meanwhile.
//
// A stream message is read to its end before its fds are judged, so a refused one whose
// header was sound leaves the stream in step. A peer can attach fds to every piece of
// one stream message (at most 253 per sendmsg; recvmsg stops after each piece that
// carries fds): they all land in one inbox.
#include "vmm_pmr/ipc/ipc_channel.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/sockios.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include "core/system_call_error.hpp"
#include "vmm_pmr/core/error.hpp"

namespace vmm_pmr {
namespace {

constexpr std::size_t control_bytes = CMSG_SPACE(sizeof(int) * max_fds_per_message);

// Room for one message's ancillary data, aligned as cmsghdr requires.
union control_buffer {
  cmsghdr header;
  std::array<char, control_bytes> bytes;
};

// The fds one message brought; closes them unless taken.
class fd_inbox {
 public:
  // Never throws: the fd is owned from here on, or closed when there is no room.
  void take(int fd) noexcept {
    ++arrived_;
    if (count_ < fds_.size()) {
      fds_[count_++].reset(fd);
    } else {
      unique_fd overflowing(fd);
    }
  }
  // Every SCM_RIGHTS fd of a received message header, and whether the kernel dropped
  // some (MSG_CTRUNC: it installs what fits and the process may hold, closes the rest).
  void take_all(msghdr& message) noexcept {
    if ((message.msg_flags & MSG_CTRUNC) != 0) some_dropped_ = true;
    for (cmsghdr* control = CMSG_FIRSTHDR(&message); control != nullptr;
         control = CMSG_NXTHDR(&message, control)) {
      if (control->cmsg_level != SOL_SOCKET || control->cmsg_type != SCM_RIGHTS) continue;
      const std::size_t fds = (control->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      const unsigned char* data = CMSG_DATA(control);
      for (std::size_t i = 0; i < fds; ++i) {
        int fd = -1;
        std::memcpy(&fd, data + i * sizeof(int), sizeof(int));
        take(fd);
      }
    }
  }
  // The fds held (at most max_fds_per_message).
  std::size_t size() const noexcept { return count_; }
  // Every fd that arrived, the closed overflow included.
  std::size_t arrived() const noexcept { return arrived_; }
  bool overflowed() const noexcept { return arrived_ > fds_.size(); }
  bool some_dropped() const noexcept { return some_dropped_; }
  std::vector<unique_fd> release_all() {
    std::vector<unique_fd> fds;
    fds.reserve(count_);  // may throw; the fds are still ours then and get closed
    for (std::size_t i = 0; i < count_; ++i) fds.push_back(std::move(fds_[i]));
    count_ = 0;
    return fds;
  }

 private:
  std::array<unique_fd, max_fds_per_message> fds_;
  std::size_t count_ = 0;
  std::size_t arrived_ = 0;
  bool some_dropped_ = false;
};

int socket_type(int socket, const char* operation) {
  int type = 0;
  socklen_t length = sizeof type;
  if (getsockopt(socket, SOL_SOCKET, SO_TYPE, &type, &length) != 0) {
    detail::throw_system_call_error(
        fmt::format("{}: getsockopt(fd {}, SOL_SOCKET, SO_TYPE)", operation, socket), errno);
  }
  return type;
}

// After EAGAIN on a non-blocking socket: wait until it is ready, then try again.
void wait_until_ready(int socket, short events, const char* operation) {
  pollfd ready{socket, events, 0};
  while (poll(&ready, 1, -1) < 0) {
    if (errno != EINTR) {
      detail::throw_system_call_error(fmt::format("{}: poll(fd {})", operation, socket), errno);
    }
  }
}

// Whether sendmsg / recvmsg should simply be called again.
bool should_retry(int code, int socket, short events, const char* operation) {
  if (code == EINTR) return true;
  if (code == EAGAIN || code == EWOULDBLOCK) {
    wait_until_ready(socket, events, operation);
    return true;
  }
  return false;
}

void check_sendable(const exported_allocation& allocation) {
  const shared_allocation_descriptor& descriptor = allocation.descriptor;
  descriptor.validate();
  const std::size_t expected_fds =
      descriptor.handle_type == handle_types::posix_fd ? descriptor.chunk_sizes.size() : 0;
  if (allocation.fds.size() != expected_fds) {
    throw invalid_argument(fmt::format(
        "send_allocation: {} fds for a {}-chunk {} descriptor (expected {})", allocation.fds.size(),
        descriptor.chunk_sizes.size(),
        descriptor.handle_type == handle_types::posix_fd ? "posix_fd" : "fabric", expected_fds));
  }
  if (expected_fds > max_fds_per_message) {
    throw invalid_argument(fmt::format(
        "send_allocation: {} chunks need {} fds, more than one message carries ({}, Linux's "
        "SCM_MAX_FD); export it as fabric handles or send it in parts",
        descriptor.chunk_sizes.size(), expected_fds, max_fds_per_message));
  }
  for (std::size_t i = 0; i < allocation.fds.size(); ++i) {
    const int fd = allocation.fds[i].get();
    if (fd < 0 || fcntl(fd, F_GETFD) < 0) {
      throw invalid_argument(fmt::format(
          "send_allocation: the fd of chunk {} ({}) is not an open file descriptor", i, fd));
    }
  }
}

void send_message(int socket, std::span<const std::byte> message, std::span<const int> fds) {
  constexpr const char* operation = "send_allocation";
  control_buffer control{};
  std::size_t sent = 0;
  while (sent < message.size()) {
    iovec data{const_cast<std::byte*>(message.data() + sent), message.size() - sent};
    msghdr header{};
    header.msg_iov = &data;
    header.msg_iovlen = 1;
    // The fds travel with the first byte; a stream socket's later pieces carry none.
    if (sent == 0 && !fds.empty()) {
      header.msg_control = control.bytes.data();
      header.msg_controllen = CMSG_SPACE(fds.size_bytes());
      cmsghdr* rights = CMSG_FIRSTHDR(&header);
      rights->cmsg_level = SOL_SOCKET;
      rights->cmsg_type = SCM_RIGHTS;
      rights->cmsg_len = CMSG_LEN(fds.size_bytes());
      std::memcpy(CMSG_DATA(rights), fds.data(), fds.size_bytes());
    }
    const ssize_t written = sendmsg(socket, &header, MSG_NOSIGNAL);
    if (written < 0) {
      const int code = errno;
      if (should_retry(code, socket, POLLOUT, operation)) continue;
      detail::throw_system_call_error(fmt::format("{}: sendmsg(fd {}, {} B, {} fds)", operation,
                                                  socket, data.iov_len, sent == 0 ? fds.size() : 0),
                                      code);
    }
    sent += static_cast<std::size_t>(written);
  }
}

// One recvmsg into `into`, its fds into `inbox`; returns the bytes read (0 at end of file)
// and the message flags.
std::pair<std::size_t, int> receive_some(int socket, std::span<std::byte> into, fd_inbox& inbox) {
  constexpr const char* operation = "receive_allocation";
  for (;;) {
    control_buffer control{};
    iovec data{into.data(), into.size()};
    msghdr header{};
    header.msg_iov = &data;
    header.msg_iovlen = 1;
    header.msg_control = control.bytes.data();
    header.msg_controllen = control.bytes.size();
    const ssize_t got = recvmsg(socket, &header, MSG_CMSG_CLOEXEC);
    if (got < 0) {
      const int code = errno;
      if (should_retry(code, socket, POLLIN, operation)) continue;
      detail::throw_system_call_error(
          fmt::format("{}: recvmsg(fd {}, {} B)", operation, socket, into.size()), code);
    }
    inbox.take_all(header);
    return {static_cast<std::size_t>(got), header.msg_flags};
  }
}

[[noreturn]] void refuse(const std::string& why) {
  throw invalid_argument("receive_allocation: " + why);
}

[[noreturn]] void peer_closed() {
  throw error("receive_allocation: the peer closed the connection");
}

// SOCK_STREAM: exactly `into.size()` bytes, however the kernel splits them. `received`
// bytes are already there.
void receive_exactly(int socket, std::span<std::byte> into, std::size_t received, fd_inbox& inbox) {
  while (received < into.size()) {
    const std::size_t got = receive_some(socket, into.subspan(received), inbox).first;
    if (got == 0) {
      if (received == 0) peer_closed();
      refuse(
          fmt::format("truncated: the peer closed the connection after {} of {} B ({} fds, "
                      "all closed)",
                      received, into.size(), inbox.arrived()));
    }
    received += got;
  }
}

// A stream message refused after its header, before its end: what follows in the stream
// is the rest of it, which no later call can tell from a message of its own.
constexpr const char* out_of_step = "the stream is out of step, close the connection";

std::vector<std::byte> receive_stream_message(int socket, fd_inbox& inbox) {
  std::vector<std::byte> message(shared_allocation_descriptor::header_bytes);
  receive_exactly(socket, message, 0, inbox);
  std::size_t total = 0;
  try {
    total = shared_allocation_descriptor::serialized_bytes(message);
  } catch (const invalid_argument& malformed) {
    refuse(fmt::format("malformed message header ({} fds, all closed): {}; {}", inbox.arrived(),
                       malformed.what(), out_of_step));
  }
  // Refused unread: a peer that announces more than the limit is not waited for.
  if (total > max_message_bytes) {
    refuse(
        fmt::format("a {} B descriptor exceeds the {} B limit of one message ({} fds, all "
                    "closed); {}",
                    total, max_message_bytes, inbox.arrived(), out_of_step));
  }
  const std::size_t header = message.size();
  message.resize(total);
  receive_exactly(socket, message, header, inbox);
  return message;
}

// SOCK_SEQPACKET: recvmsg returns 0 B, and nothing else, both at end of file and for an
// empty record. It is taken for the end when the peer has shut down and no byte is left
// queued (only empty records left read the same; they are never received); any other
// empty record is refused like a malformed message.
bool at_end_of_file(int socket) {
  pollfd ready{socket, POLLRDHUP, 0};
  if (poll(&ready, 1, 0) != 1 || (ready.revents & (POLLRDHUP | POLLHUP)) == 0) return false;
  int queued = 0;
  return ioctl(socket, SIOCINQ, &queued) != 0 || queued == 0;
}

std::vector<std::byte> receive_record(int socket, int type, fd_inbox& inbox) {
  // One byte more than the limit: a message that fills it is too large.
  std::vector<std::byte> message(max_message_bytes + 1);
  const auto [got, flags] = receive_some(socket, message, inbox);
  if (got == 0 && type == SOCK_SEQPACKET && inbox.arrived() == 0 && !inbox.some_dropped() &&
      at_end_of_file(socket)) {
    peer_closed();
  }
  if ((flags & MSG_TRUNC) != 0 || got > max_message_bytes) {
    refuse(fmt::format("the message exceeds the {} B limit ({} fds, all closed)", max_message_bytes,
                       inbox.arrived()));
  }
  message.resize(got);
  return message;
}

// Every fd the message brought is in the inbox, or the message is refused.
void check_fds_arrived(const fd_inbox& inbox) {
  if (inbox.overflowed()) {
    refuse(fmt::format(
        "the message carried {} fds, more than one message may ({}, Linux's SCM_MAX_FD); all "
        "were closed",
        inbox.arrived(), max_fds_per_message));
  }
  if (inbox.some_dropped()) {
    refuse(fmt::format(
        "the kernel dropped some of the message's fds (MSG_CTRUNC: this process is at its "
        "open-file limit, RLIMIT_NOFILE, or the socket adds control messages of its own); the {} "
        "that arrived were closed",
        inbox.arrived()));
  }
}

}  // namespace

void send_allocation(int socket, const exported_allocation& allocation) {
  check_sendable(allocation);
  const std::vector<std::byte> message = allocation.descriptor.serialize();
  if (message.size() > max_message_bytes) {
    throw invalid_argument(fmt::format(
        "send_allocation: the {}-chunk descriptor takes {} B, more than one message carries ({} B)",
        allocation.descriptor.chunk_sizes.size(), message.size(), max_message_bytes));
  }
  (void)socket_type(socket, "send_allocation");  // a clear ENOTSOCK before anything is sent
  std::array<int, max_fds_per_message> fds{};
  for (std::size_t i = 0; i < allocation.fds.size(); ++i) fds[i] = allocation.fds[i].get();
  send_message(socket, message, std::span<const int>(fds.data(), allocation.fds.size()));
}

exported_allocation receive_allocation(int socket) {
  const int type = socket_type(socket, "receive_allocation");
  fd_inbox inbox;
  const std::vector<std::byte> message = type == SOCK_STREAM ? receive_stream_message(socket, inbox)
                                                             : receive_record(socket, type, inbox);
  check_fds_arrived(inbox);
  exported_allocation received;
  try {
    received.descriptor = shared_allocation_descriptor::parse(message);
  } catch (const invalid_argument& malformed) {
    refuse(fmt::format("malformed message ({} B, {} fds, all closed): {}", message.size(),
                       inbox.arrived(), malformed.what()));
  }
  const bool posix_fd = received.descriptor.handle_type == handle_types::posix_fd;
  const std::size_t expected_fds = posix_fd ? received.descriptor.chunk_sizes.size() : 0;
  if (inbox.size() != expected_fds) {
    refuse(
        fmt::format("the message carried {} fds for a {}-chunk {} descriptor (expected {}); "
                    "all were closed",
                    inbox.size(), received.descriptor.chunk_sizes.size(),
                    posix_fd ? "posix_fd" : "fabric", expected_fds));
  }
  received.fds = inbox.release_all();
  return received;
}

}  // namespace vmm_pmr
