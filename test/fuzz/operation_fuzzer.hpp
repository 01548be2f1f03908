// The fuzz program: bytes decoded into a sequence of operations on the library.
//
// One input drives two vmm_resources (one shareable) and a stream_ordered_resource on
// three streams (bounded to its peak when the first byte says so: alias ranges past the
// limit), all over the host backend (64 KiB granularity, 64 MiB of memory, so running out
// is reachable) under the test decorators: exact_alignment_backend (every reservation at
// the same offset from a large power of two, so that an input replays the same way
// wherever mmap puts memory), counting_backend (live driver objects),
// fault_injecting_backend (an operation may arm a failure) and manual_event_backend
// (events complete when an operation says so). Operations: allocate with any size and
// alignment (absurd ones included), deallocate right, wrong, foreign, interior and twice,
// stream-ordered allocate and deallocate on any stream, event completion, trim, export +
// import, set_access with good and bad grants, and injected driver failures.
//
// After every operation it checks the resources against its own model of what is live
// (registry entries, statistics, bad-deallocation counts, the contents of every live
// allocation), walks the pool's structures (stream_ordered_resource::check_invariants)
// and checks the backend's live objects; after teardown, that the backend holds nothing.
// The first violated invariant is returned as text; an empty string means every
// invariant held.
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
