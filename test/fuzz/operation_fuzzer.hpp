// The fuzz program: bytes decoded into a sequence of operations on the library.
//
// One input drives two vmm_resources (one shareable) and a stream_ordered_resource on
// three streams (bounded to its peak when the first byte says so: alias ranges past the
// limit), all over the host backend (64 KiB granularity, 64 MiB of memory, so running out
// is reachable) under the test decorators: exact_alignment_backend (every reservation at
// the same offset from a large power of two, so that an input replays the same way
// wherever mmap puts memory), counting_backend (live driver objects),
// fault_injecting_backend (an operation may arm a failure) and manual_event_backend
// (events complete when an operation says so), and a plain std::pmr resource
// (failing_upstream_resource, as much memory as the backend). Operations: allocate with
// any size and alignment (absurd ones included), deallocate right, wrong, foreign,
// interior and twice, stream-ordered allocate and deallocate on any stream, event
// completion, trim, export + import, set_access with good and bad grants, injected driver
// failures; vmm_resource::grow and shrink of an allocation (right, perhaps meeting an
// injected failure, and wrong: the wrong size, the wrong direction, an interior or
// foreign pointer, an imported allocation); device_buffers on any of the resources (a
// vmm_resource, the pool, a view of it, the plain resource): made, resized, reserved,
// shrunk to fit, given address space, appended to through device_vector, copied onto
// another resource, moved over one another, written past their end, released and
// destroyed, the growths perhaps meeting an injected failure.
//
// After every operation it checks the resources against its own model of what is live
// (registry entries, statistics, bad-deallocation counts, the contents of every live
// allocation, the buffers' memory among them), walks the pool's structures
// (stream_ordered_resource::check_invariants) and checks the backend's live objects, and
// every buffer against its model (size, capacity, pointer, address space, the bytes
// written into it; a buffer whose operation threw must be as it was); after teardown,
// that the backend and the plain resource hold nothing. The first violated invariant is
// returned as text; an empty string means every invariant held.
//
// Used by the libFuzzer target (fuzz_operations.cpp, which aborts on a violation) and by
// the replay test (fuzz_replay_test.cpp), which runs every file of test/fuzz_corpus and
// test/fuzz_regressions in the normal test suite.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace vmm_pmr::fuzz {

std::string run_operations(std::span<const std::uint8_t> input);

}  // namespace vmm_pmr::fuzz
