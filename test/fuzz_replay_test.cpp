// Every input in test/fuzz_corpus (the fuzzer's seeds) and test/fuzz_regressions (inputs
// that once crashed the fuzzer or broke an invariant) replayed through the fuzz program,
// so that what the fuzzer found stays fixed in the normal test suite.
#include <catch2/catch_test_macros.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "fuzz/operation_fuzzer.hpp"

namespace {

std::vector<std::filesystem::path> inputs_in(const std::filesystem::path& directory) {
  std::vector<std::filesystem::path> inputs;
  if (!std::filesystem::is_directory(directory)) return inputs;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    if (entry.is_regular_file() && entry.path().filename().string().front() != '.') {
      inputs.push_back(entry.path());
    }
  }
  return inputs;
}

}  // namespace

TEST_CASE("every fuzz seed and regression input keeps every invariant", "[fuzz]") {
  const std::filesystem::path source = VMM_PMR_TEST_SOURCE_DIR;
  std::vector<std::filesystem::path> inputs = inputs_in(source / "fuzz_corpus");
  const std::size_t seeds = inputs.size();
  for (const auto& regression : inputs_in(source / "fuzz_regressions")) {
    inputs.push_back(regression);
  }
  REQUIRE(seeds > 0);
  for (const auto& input : inputs) {
    std::ifstream file(input, std::ios::binary);
    const std::vector<std::uint8_t> bytes{std::istreambuf_iterator<char>(file),
                                          std::istreambuf_iterator<char>()};
    INFO(input.filename().string() << " (" << bytes.size() << " bytes)");
    CHECK(vmm_pmr::fuzz::run_operations(bytes) == "");
  }
}
