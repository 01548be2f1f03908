// The IPC receive path under fuzzing (message_receive_fuzzer.hpp). Both ends live in
// this process; everything is sent before anything is received, so nothing runs
// concurrently and no call can block: the sender is closed (or, for SOCK_DGRAM, the
// queue checked) before each receive could wait.
#include "fuzz/message_receive_fuzzer.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <exception>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "fuzz/input_reader.hpp"
#include "support/open_fds.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/ipc/ipc_channel.hpp"

namespace vmm_pmr::fuzz {
namespace {

constexpr std::size_t max_messages = 16;
constexpr std::size_t max_raw_bytes = 4096;
constexpr std::size_t max_padded_bytes = 72 << 10;
constexpr std::size_t max_fds_per_input = 1024;
constexpr std::size_t max_descriptor_chunks = 300;
constexpr std::size_t chunk_bytes = 4096;

// The one file every fd sent refers to; opened once, before any fd is counted.
int sent_memfd() {
  static const unique_fd memfd = [] {
    unique_fd fd(memfd_create("fuzz_message_receive", MFD_CLOEXEC));
    if (fd && ftruncate(fd.get(), chunk_bytes) != 0) fd.reset();
    return fd;
  }();
  return memfd.get();
}

bool same_file(int a, int b) {
  struct stat first {
  }, second{};
  return fstat(a, &first) == 0 && fstat(b, &second) == 0 && first.st_dev == second.st_dev &&
         first.st_ino == second.st_ino;
}

std::vector<std::byte> valid_descriptor(std::uint16_t size) {
  const bool fabric = (size & 1) != 0;
  const std::size_t chunks = 1 + (size >> 1) % max_descriptor_chunks;
  shared_allocation_descriptor descriptor;
  descriptor.handle_type = fabric ? handle_types::fabric : handle_types::posix_fd;
  descriptor.granularity = chunk_bytes;
  descriptor.requested_bytes = chunks * chunk_bytes - 1;
  descriptor.chunk_sizes.assign(chunks, chunk_bytes);
  if (fabric) descriptor.fabric_handles.resize(chunks);
  return descriptor.serialize();
}

void put_u32(std::vector<std::byte>& bytes, std::size_t at, std::uint32_t value) {
  for (std::size_t i = 0; i < 4; ++i) bytes[at + i] = static_cast<std::byte>(value >> (8 * i));
}

// A sound header announcing `chunks` fabric chunks, then zeros up to max_padded_bytes.
std::vector<std::byte> oversize_header(std::size_t chunks) {
  const std::size_t total = shared_allocation_descriptor::header_bytes +
                            chunks * (8 + shared_allocation_descriptor::fabric_handle_bytes);
  std::vector<std::byte> bytes(std::min(total, max_padded_bytes));
  put_u32(bytes, 0, shared_allocation_descriptor::magic);
  put_u32(bytes, 4, shared_allocation_descriptor::version);
  put_u32(bytes, 8, 2);  // fabric
  put_u32(bytes, 12, static_cast<std::uint32_t>(chunks));
  return bytes;
}

std::vector<std::byte> decode_message_bytes(int shape, std::uint16_t size, input_reader& in) {
  switch (shape) {
    case 0:
      return in.bytes(size % max_raw_bytes);
    case 1:
      return valid_descriptor(size);
    case 2:
      return oversize_header(std::size_t{1} + size);
    default: {
      std::vector<std::byte> bytes = valid_descriptor(size);
      const std::size_t where = in.byte() % bytes.size();
      bytes[where] ^= static_cast<std::byte>(in.byte());
      return bytes;
    }
  }
}

// One sendmsg that never blocks; the bytes the socket took (part of them on a full
// stream), -1 when it took nothing.
ssize_t send_piece(int socket, std::span<const std::byte> bytes, std::size_t fds) {
  iovec data{const_cast<std::byte*>(bytes.data()), bytes.size()};
  msghdr header{};
  header.msg_iov = &data;
  header.msg_iovlen = 1;
  union {
    cmsghdr align;
    std::array<char, CMSG_SPACE(sizeof(int) * max_fds_per_message)> bytes;
  } control{};
  if (fds > 0) {
    header.msg_control = control.bytes.data();
    header.msg_controllen = CMSG_SPACE(sizeof(int) * fds);
    cmsghdr* rights = CMSG_FIRSTHDR(&header);
    rights->cmsg_level = SOL_SOCKET;
    rights->cmsg_type = SCM_RIGHTS;
    rights->cmsg_len = CMSG_LEN(sizeof(int) * fds);
    const int fd = sent_memfd();
    for (std::size_t i = 0; i < fds; ++i) {
      std::memcpy(CMSG_DATA(rights) + i * sizeof(int), &fd, sizeof(int));
    }
  }
  return sendmsg(socket, &header, MSG_DONTWAIT | MSG_NOSIGNAL);
}

// What the sending side put on the socket.
struct sent_traffic {
  // One entry per successful sendmsg (a record on SOCK_SEQPACKET and SOCK_DGRAM): true
  // for an empty one. After the peer has closed, nothing but empty records left reads
  // like end of file on SOCK_SEQPACKET (recvmsg tells neither the bytes nor the fds
  // still queued); their fds are never installed here.
  std::vector<bool> empty_records;
  std::size_t bytes = 0;
  // What each receive must return, in order (nullopt: a refusal), per record, or on
  // SOCK_STREAM per whole message; a stream is known up to its first refused message.
  std::vector<std::optional<shared_allocation_descriptor>> expected;
  std::size_t well_formed_stream_messages = 0;
};

// The descriptor a receiver must accept from these bytes with these many fds, if any.
std::optional<shared_allocation_descriptor> acceptable(std::span<const std::byte> bytes,
                                                       std::size_t fds) {
  if (bytes.size() > max_message_bytes) return std::nullopt;
  try {
    shared_allocation_descriptor descriptor = shared_allocation_descriptor::parse(bytes);
    const bool posix_fd = descriptor.handle_type == handle_types::posix_fd;
    if (fds != (posix_fd ? descriptor.chunk_sizes.size() : 0)) return std::nullopt;
    return descriptor;
  } catch (const invalid_argument&) {
    return std::nullopt;
  }
}

sent_traffic send_messages(int socket, int type, input_reader& in) {
  sent_traffic sent;
  std::size_t fds_left = max_fds_per_input;
  for (std::size_t message = 0; message < max_messages && !in.exhausted(); ++message) {
    const std::uint8_t shape = in.byte();
    const std::size_t fds_wanted = std::min<std::size_t>(in.byte(), max_fds_per_message);
    const std::uint16_t size = in.u16();
    const std::vector<std::byte> bytes = decode_message_bytes(shape & 3, size, in);
    const std::size_t pieces = 1 + ((shape >> 2) & 3);
    const std::size_t piece_bytes = bytes.size() / pieces;
    std::size_t message_fds = 0;
    for (std::size_t piece = 0; piece < pieces; ++piece) {
      const std::size_t begin = piece * piece_bytes;
      const std::size_t end = piece + 1 == pieces ? bytes.size() : begin + piece_bytes;
      const std::span<const std::byte> piece_span = std::span(bytes).subspan(begin, end - begin);
      // A stream piece without bytes carries no fds either: sendmsg sends nothing.
      const std::size_t fds =
          type == SOCK_STREAM && begin == end ? 0 : std::min(fds_wanted, fds_left);
      const ssize_t taken = send_piece(socket, piece_span, fds);
      if (taken < 0) return sent;
      fds_left -= fds;
      message_fds += fds;
      sent.empty_records.push_back(end == begin);
      sent.bytes += static_cast<std::size_t>(taken);
      if (static_cast<std::size_t>(taken) < end - begin) return sent;
      if (type != SOCK_STREAM) sent.expected.push_back(acceptable(piece_span, fds));
    }
    // No bytes on a stream is no message at all.
    if (type == SOCK_STREAM && !bytes.empty()) {
      sent.expected.push_back(acceptable(bytes, message_fds));
      if (sent.expected.back() && sent.well_formed_stream_messages + 1 == sent.expected.size()) {
        ++sent.well_formed_stream_messages;
      }
    }
  }
  return sent;
}

bool readable_now(int socket) {
  pollfd ready{socket, POLLIN, 0};
  return poll(&ready, 1, 0) == 1 && (ready.revents & POLLIN) != 0;
}

std::size_t bytes_queued(int socket) {
  int queued = 0;
  return ioctl(socket, FIONREAD, &queued) == 0 ? static_cast<std::size_t>(queued) : 0;
}

// "" when the received allocation is what the checks in the header say.
std::string check_received(const exported_allocation& received,
                           const std::optional<shared_allocation_descriptor>& sent) {
  if (sent && received.descriptor != *sent) {
    return "returned a descriptor other than the one sent";
  }
  try {
    received.descriptor.validate();
  } catch (const invalid_argument& refusal) {
    return fmt::format("returned a descriptor validate() refuses: {}", refusal.what());
  }
  const bool posix_fd = received.descriptor.handle_type == handle_types::posix_fd;
  const std::size_t expected = posix_fd ? received.descriptor.chunk_sizes.size() : 0;
  if (received.fds.size() != expected) {
    return fmt::format("returned {} fds for a {}-chunk descriptor (expected {})",
                       received.fds.size(), received.descriptor.chunk_sizes.size(), expected);
  }
  for (const unique_fd& fd : received.fds) {
    const int flags = fcntl(fd.get(), F_GETFD);
    if (flags < 0 || (flags & FD_CLOEXEC) == 0) {
      return fmt::format("returned fd {} that is closed or not close-on-exec", fd.get());
    }
    if (!same_file(fd.get(), sent_memfd())) {
      return fmt::format("returned fd {} that is not the memfd sent", fd.get());
    }
  }
  return "";
}

// Whether end of file may be reported after `consumed` records: on SOCK_STREAM when no
// byte is left, on SOCK_SEQPACKET when only empty records are, never on SOCK_DGRAM.
std::string check_end(int socket, int type, const sent_traffic& sent, std::size_t consumed) {
  if (type == SOCK_STREAM) {
    const std::size_t queued = bytes_queued(socket);
    return queued == 0 ? "" : fmt::format("reported the peer closing with {} B queued", queued);
  }
  const auto left = sent.empty_records.begin() +
                    static_cast<std::ptrdiff_t>(std::min(consumed, sent.empty_records.size()));
  if (type == SOCK_SEQPACKET && std::all_of(left, sent.empty_records.end(), std::identity())) {
    return "";
  }
  return fmt::format("reported the peer closing after {} of {} records", consumed,
                     sent.empty_records.size());
}

// Calls receive_allocation until the end; "" when every call kept the invariants.
std::string receive_all(int socket, int type, const sent_traffic& sent) {
  // A stream call consumes a 32 B header or reaches the end; a record call one record.
  const std::size_t max_calls = sent.empty_records.size() + sent.bytes / 32 + 2;
  for (std::size_t call = 0; call < max_calls; ++call) {
    if (type == SOCK_DGRAM && !readable_now(socket)) return "";
    const bool known = call < sent.expected.size() &&
                       (type != SOCK_STREAM || call <= sent.well_formed_stream_messages);
    const std::optional<shared_allocation_descriptor> expected =
        known ? sent.expected[call] : std::nullopt;
    try {
      const exported_allocation received = receive_allocation(socket);
      if (known && !expected) return "accepted a message it should have refused";
      if (std::string failure = check_received(received, expected); !failure.empty()) {
        return failure;
      }
    } catch (const invalid_argument& refusal) {
      const std::string_view message = refusal.what();
      if (!message.starts_with("receive_allocation: ")) {
        return fmt::format("refused without naming receive_allocation: {}", message);
      }
      if (expected) return fmt::format("refused a well-formed message: {}", message);
      // What the library asks for: the rest of such a stream is noise.
      if (message.ends_with("the stream is out of step, close the connection")) {
        return type == SOCK_STREAM ? "" : fmt::format("out of step off a stream: {}", message);
      }
    } catch (const driver_error& failure) {
      return fmt::format("a socket failure on a sound socket: {}", failure.what());
    } catch (const error& end) {
      if (!std::string_view(end.what()).ends_with("the peer closed the connection")) {
        return fmt::format("an unexpected error: {}", end.what());
      }
      if (expected) return "reported the peer closing instead of a well-formed message";
      return check_end(socket, type, sent, call);
    } catch (const std::exception& other) {
      return fmt::format("threw something other than the library's errors: {}", other.what());
    }
  }
  return fmt::format("{} calls never reached the end of what was sent", max_calls);
}

}  // namespace

std::string run_message_receive(std::span<const std::uint8_t> input) {
  if (sent_memfd() < 0) return "memfd_create failed";
  input_reader in(input);
  constexpr std::array<int, 3> types{SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM};
  const int type = types[in.byte() % types.size()];
  const std::size_t fds_before = test::count_open_fds();
  std::string failure;
  {
    int ends[2];
    if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, ends) != 0) return "socketpair failed";
    unique_fd sender(ends[0]);
    const unique_fd receiver(ends[1]);
    const sent_traffic sent = send_messages(sender.get(), type, in);
    sender.reset();
    failure = receive_all(receiver.get(), type, sent);
  }
  const std::size_t fds_after = test::count_open_fds();
  if (failure.empty() && fds_after != fds_before) {
    failure = fmt::format("{} fds open after receiving, {} before", fds_after, fds_before);
  }
  return failure;
}

}  // namespace vmm_pmr::fuzz
