// The descriptor parser under fuzzing (descriptor_parse_fuzzer.hpp).
#include "fuzz/descriptor_parse_fuzzer.hpp"

#include <fmt/format.h>

#include <cstddef>
#include <exception>
#include <optional>
#include <string_view>
#include <vector>

#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/ipc/shared_allocation_descriptor.hpp"

namespace vmm_pmr::fuzz {
namespace {

constexpr std::string_view refusal_prefix = "shared allocation descriptor: ";

bool names_the_descriptor(const invalid_argument& refusal) {
  return std::string_view(refusal.what()).starts_with(refusal_prefix);
}

}  // namespace

std::string run_descriptor_parse(std::span<const std::uint8_t> input) {
  const std::span<const std::byte> bytes = std::as_bytes(input);

  // What a stream reader would make of the header.
  std::optional<std::size_t> announced;
  try {
    announced = shared_allocation_descriptor::serialized_bytes(bytes);
  } catch (const invalid_argument& refusal) {
    if (!names_the_descriptor(refusal)) {
      return fmt::format("serialized_bytes refused without naming the descriptor: {}",
                         refusal.what());
    }
  } catch (const std::exception& other) {
    return fmt::format("serialized_bytes threw something other than invalid_argument: {}",
                       other.what());
  }
  if (announced && *announced < shared_allocation_descriptor::header_bytes) {
    return fmt::format("serialized_bytes announced {} B, less than the header", *announced);
  }

  shared_allocation_descriptor descriptor;
  try {
    descriptor = shared_allocation_descriptor::parse(bytes);
  } catch (const invalid_argument& refusal) {
    if (!names_the_descriptor(refusal)) {
      return fmt::format("parse refused without naming the descriptor: {}", refusal.what());
    }
    return "";
  } catch (const std::exception& other) {
    return fmt::format("parse threw something other than invalid_argument: {}", other.what());
  }

  if (!announced || *announced != bytes.size()) {
    return fmt::format(
        "parse accepted {} B, but serialized_bytes {}", bytes.size(),
        announced ? fmt::format("announced {} B", *announced) : std::string("refused the header"));
  }
  try {
    descriptor.validate();
    if (descriptor.serialize() != std::vector<std::byte>(bytes.begin(), bytes.end())) {
      return "what parse accepted serializes to different bytes";
    }
  } catch (const std::exception& refusal) {
    return fmt::format("what parse accepted fails validate or serialize: {}", refusal.what());
  }
  return "";
}

}  // namespace vmm_pmr::fuzz
