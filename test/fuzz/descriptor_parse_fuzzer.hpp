// The descriptor parser under fuzzing: the input is the bytes a peer sent, handed to
// shared_allocation_descriptor::parse as they are.
//
// Checked for every input: parse either accepts it or refuses it with invalid_argument
// (a message that names the descriptor), never anything else; serialized_bytes, which a
// stream reader trusts to know how much to read, agrees with it (it refuses every header
// parse refuses, and announces exactly the length parse accepts); and what parse accepts
// is a descriptor validate() accepts, which serializes back to the very same bytes.
// The first violated invariant is returned as text; an empty string means every
// invariant held.
//
// Used by the libFuzzer target (fuzz_descriptor_parse.cpp) and by the replay test
// (fuzz_replay_test.cpp), which runs every file of test/fuzz_corpus/descriptor_parse and
// test/fuzz_regressions/descriptor_parse in the normal test suite.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace vmm_pmr::fuzz {

std::string run_descriptor_parse(std::span<const std::uint8_t> input);

}  // namespace vmm_pmr::fuzz
