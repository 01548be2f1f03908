// The libFuzzer target for the IPC receive path (message_receive_fuzzer.hpp); a
// violated invariant aborts, so libFuzzer saves the input. Build and run: scripts/fuzz
// (docs/testing.md, "Fuzzing").
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

#include "fuzz/message_receive_fuzzer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string failure = vmm_pmr::fuzz::run_message_receive(std::span(data, size));
  if (!failure.empty()) {
    std::fprintf(stderr, "vmm_pmr fuzz: invariant violated: %s\n", failure.c_str());
    std::abort();
  }
  return 0;
}
