// The IPC receive path under fuzzing: the input is what a peer sends, bytes and fds,
// over a real socketpair, received through receive_allocation.
//
// The input decodes into a socket type (first byte: SOCK_STREAM, SOCK_SEQPACKET,
// SOCK_DGRAM) and up to 16 messages, each four bytes and a payload:
//   shape  bits 0-1: 0 raw bytes (the next `size % 4096` input bytes),
//                    1 a valid descriptor (`size` bit 0: fabric; 1 + (size >> 1) % 300
//                      chunks), 3 the same with one byte changed (two more input bytes:
//                      where, and the xor),
//                    2 the header of a descriptor of 1 + size fabric chunks (up to
//                      4.7 MB), followed by zeros up to 72 KiB: over the 64 KiB limit
//          bits 2-3: the message goes out in 1 to 4 sendmsg calls (pieces)
//   fds    each piece carries min(fds, 253) copies of one memfd (at most 1,024 in all)
//   size   u16, little-endian
// Sending never blocks (MSG_DONTWAIT): a piece the socket takes only part of ends the
// sending, so every input replays the same way. Then the sender is closed and
// receive_allocation is called until it reports the peer closing (SOCK_DGRAM, which has
// no end of file: until nothing is queued) or a stream out of step, as it asks.
//
// Checked for every call: it returns an allocation whose descriptor validate() accepts
// and that holds one open, close-on-exec fd per posix_fd chunk (none for fabric), each
// the memfd that was sent; or it throws invalid_argument naming receive_allocation; or,
// only once nothing is left queued (on SOCK_SEQPACKET, nothing but empty records, which
// read like end of file), error "peer closed the connection". Nothing else:
// no driver_error, no other exception. A record, or a stream message after only
// well-formed ones, that parse() accepts, with the right fd count and within the limits,
// must be returned as sent; any other must be refused. After the returned allocations
// are gone and the receiving socket closed, the process holds exactly the fds it held
// before.
// The first violated invariant is returned as text; an empty string means every
// invariant held.
//
// Used by the libFuzzer target (fuzz_message_receive.cpp) and by the replay test
// (fuzz_replay_test.cpp), which runs every file of test/fuzz_corpus/message_receive and
// test/fuzz_regressions/message_receive in the normal test suite.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace vmm_pmr::fuzz {

std::string run_message_receive(std::span<const std::uint8_t> input);

}  // namespace vmm_pmr::fuzz
