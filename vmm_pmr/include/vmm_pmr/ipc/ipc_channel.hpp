// Sending an exported allocation to another process over a Unix domain socket.
//
// One message carries the serialized descriptor and, as SCM_RIGHTS ancillary data,
// the chunks' fds (none for fabric handles). The receiver owns the fds it receives
// (unique_fd, opened close-on-exec), including on every error path; a message whose fd
// count does not match its descriptor is refused.
//
// Any connected AF_UNIX socket works. SOCK_SEQPACKET and SOCK_DGRAM keep one message per
// record; on SOCK_STREAM the receiver reads exactly one descriptor's bytes (its header
// says how many), so messages sent back to back are received one at a time. Both calls
// retry after EINTR and wait (poll) on a non-blocking socket. Sending never raises
// SIGPIPE: a closed peer is an EPIPE driver_error.
#pragma once

#include <cstddef>

#include "vmm_pmr/ipc/exported_allocation.hpp"

namespace vmm_pmr {

// The most fds one message may carry: Linux's SCM_MAX_FD. An allocation with more
// chunks must be exported as fabric handles (or in parts).
inline constexpr std::size_t max_fds_per_message = 253;
// The largest serialized descriptor sent in one message (a fabric descriptor of about
// 900 chunks); larger ones are refused by both sides.
inline constexpr std::size_t max_message_bytes = 64 * 1024;

// Throws invalid_argument for an allocation that cannot be sent (inconsistent
// descriptor, fd count not one per posix_fd chunk, a closed fd, beyond the limits
// above) and driver_error (with errno's name) when the socket fails.
void send_allocation(int socket, const exported_allocation& allocation);

// Blocks until a message arrives. Throws invalid_argument for a malformed message
// (bad descriptor, wrong fd count, too many fds, fds the kernel dropped, too large),
// driver_error for a socket failure, and error("... peer closed the connection") at end
// of file before the first byte. Every fd received is closed again when it throws.
// After a refusal the next message can be received, except on a stream whose message
// header was malformed or announced more than the limit: the stream is then out of step
// (the message says so) and the connection should be closed.
exported_allocation receive_allocation(int socket);

}  // namespace vmm_pmr
