// Every input in test/fuzz_corpus/<target> (the fuzzers' seeds) and
// test/fuzz_regressions/<target> (inputs that once crashed a fuzzer or broke an
// invariant) replayed through that target's fuzz program, so that what the fuzzers found
// stays fixed in the normal test suite.
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/generators/catch_generators_range.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz/descriptor_parse_fuzzer.hpp"
#include "fuzz/message_receive_fuzzer.hpp"
#include "fuzz/operation_fuzzer.hpp"

namespace {

struct fuzz_target {
  const char* folder;  // in test/fuzz_corpus and test/fuzz_regressions
  std::string (*run)(std::span<const std::uint8_t>);
};

constexpr fuzz_target targets[] = {
    {"operations", vmm_pmr::fuzz::run_operations},
    {"descriptor_parse", vmm_pmr::fuzz::run_descriptor_parse},
    {"message_receive", vmm_pmr::fuzz::run_message_receive},
};

const std::filesystem::path source = VMM_PMR_TEST_SOURCE_DIR;

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
  const fuzz_target target = GENERATE(from_range(std::begin(targets), std::end(targets)));
  CAPTURE(target.folder);
  std::vector<std::filesystem::path> inputs = inputs_in(source / "fuzz_corpus" / target.folder);
  const std::size_t seeds = inputs.size();
  for (const auto& regression : inputs_in(source / "fuzz_regressions" / target.folder)) {
    inputs.push_back(regression);
  }
  REQUIRE(seeds > 0);
  for (const auto& input : inputs) {
    std::ifstream file(input, std::ios::binary);
    const std::vector<std::uint8_t> bytes{std::istreambuf_iterator<char>(file),
                                          std::istreambuf_iterator<char>()};
    INFO(input.filename().string() << " (" << bytes.size() << " bytes)");
    CHECK(target.run(bytes) == "");
  }
}

// An input outside every target's folder would be replayed by none (and fed by libFuzzer,
// which reads corpus folders recursively, to the wrong target).
TEST_CASE("every fuzz input lies in the folder of a fuzz target", "[fuzz]") {
  const std::string folder = GENERATE("fuzz_corpus", "fuzz_regressions");
  CAPTURE(folder);
  for (const auto& entry : std::filesystem::directory_iterator(source / folder)) {
    const std::string name = entry.path().filename().string();
    if (name.front() == '.') continue;
    CAPTURE(name);
    CHECK(entry.is_directory());
    CHECK(std::any_of(std::begin(targets), std::end(targets),
                      [&](const fuzz_target& target) { return name == target.folder; }));
  }
}
